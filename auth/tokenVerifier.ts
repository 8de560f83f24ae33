import { errors as joseErrors, jwtVerify } from "jose";
import type { JWTPayload, JWTVerifyGetKey } from "jose";
import type { Logger } from "pino";
import { userIdFromSub } from "../domain/index.ts";
import type { UserId } from "../domain/index.ts";
import { IssuerUnavailableError, TokenRejectedError } from "./errors.ts";
import { issuerKeys } from "./issuerKeys.ts";
import type { TokenRejectionReason } from "./errors.ts";

/** The asymmetric JWS algorithms natter can accept; never `none`, never HMAC. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** The most clock leeway natter allows on `exp` and `nbf`, in seconds. */
export const MAX_LEEWAY_SECONDS = 30;

export interface TokenVerifierOptions {
  /** The issuer, exactly as tokens carry it in `iss` (e.g. `http://localhost:8081/realms/natter`). */
  issuer: string;
  /** The audience natter expects: in `aud` (string or array), or as the token's `azp`. */
  audience: string;
  /** Clock leeway on `exp` and `nbf`, in seconds; at most 30. Default 30. */
  leewaySeconds?: number;
  /** The algorithms accepted, a subset of ASYMMETRIC_ALGORITHMS. Default: all of them. */
  algorithms?: readonly AsymmetricAlgorithm[];
  /** The JWKS URL; when set, discovery is skipped. Default: `jwks_uri` of `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Least time between two JWKS fetches caused by an unknown `kid`, and between retries after a failed fetch, ms. Default 30 000. */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is fetched again on the next verification, ms. Default 600 000. */
  jwksMaxAgeMs?: number;
  /** Timeout of a discovery or JWKS request, ms. Default 5 000. */
  httpTimeoutMs?: number;
  /** The longest token considered, in characters; longer ones are `malformed`. Default 16 384. */
  maxTokenLength?: number;
  /** Where refusals are logged (reason, kid, sub; never the token). Default: not logged. */
  log?: Logger;
}

type Defaulted =
  "leewaySeconds" | "algorithms" | "jwksCooldownMs" | "jwksMaxAgeMs" | "httpTimeoutMs" | "maxTokenLength";
type ResolvedOptions = TokenVerifierOptions & Required<Pick<TokenVerifierOptions, Defaulted>>;

/** The defaults of TokenVerifierOptions, in one place. */
const DEFAULTS: Required<Pick<TokenVerifierOptions, Defaulted>> = {
  leewaySeconds: MAX_LEEWAY_SECONDS,
  algorithms: ASYMMETRIC_ALGORITHMS,
  jwksCooldownMs: 30_000,
  jwksMaxAgeMs: 600_000,
  httpTimeoutMs: 5_000,
  maxTokenLength: 16_384,
};

/** The realm privilege a token carries: `admin` before `user` before none. */
export type RealmRole = "admin" | "user" | "none";

/** What natter takes from a verified access token. */
export interface VerifiedToken {
  /** The user id: `sub` mapped to the id alphabet (`userIdFromSub`). */
  userId: UserId;
  /** The token's `sub`, as it is. */
  sub: string;
  /** `preferred_username`, or `sub` when there is none; for display only. */
  username: string;
  /** The person's name as the identity gives it: `name` where present, else `preferred_username`; undefined with neither. */
  identityName: string | undefined;
  /** `realm_access.roles`; empty when the claim is missing or not an array of strings. */
  roles: string[];
  /** `admin` if roles include admin, else `user` if they include user, else `none`. */
  realmRole: RealmRole;
  /** Expiry, in seconds since the epoch. */
  exp: number;
  /** The issuer that signed it (the configured one). */
  issuer: string;
  /** The client the token was issued to (`azp`), when it says. */
  azp: string | undefined;
}

export interface TokenVerifier {
  /**
   * Verifies an access token and returns who it is for. Throws TokenRejectedError (with a
   * `reason`) when the token is refused, IssuerUnavailableError when the issuer's keys cannot be
   * fetched.
   */
  verify(token: string): Promise<VerifiedToken>;
}

const HEADER_TYPES = new Set(["jwt", "at+jwt", "application/jwt", "application/at+jwt"]);
const LOGGED_CLAIM_MAX = 128;

/**
 * A verifier of OIDC access tokens (Keycloak's, the development IdP's) with jose: the issuer's
 * keys come from its discovery document's `jwks_uri`, are cached, and are fetched again when a
 * token names an unknown `kid`, at most once per cooldown (see issuerKeys). Checks, in order:
 * shape, algorithm allow-list, header `typ`, exact `iss` (before any key is fetched), signature,
 * `exp` (required) and `nbf` with the leeway, payload `typ: "Bearer"`, audience (`aud` or
 * `azp`), `sub` and its mapping to a user id; roles last, never refusing.
 *
 * @example
 * const verifier = createTokenVerifier({ issuer: "http://localhost:8081/realms/natter", audience: "natter", log });
 * const { userId, realmRole } = await verifier.verify(accessToken);
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const opts: ResolvedOptions = { ...DEFAULTS, ...definedOnly(options) };
  const { issuer, audience, log } = opts;
  if (!issuer) throw new TypeError("createTokenVerifier: issuer is required");
  if (!audience) throw new TypeError("createTokenVerifier: audience is required");
  if (!Number.isFinite(opts.leewaySeconds) || opts.leewaySeconds < 0 || opts.leewaySeconds > MAX_LEEWAY_SECONDS) {
    throw new RangeError(
      `createTokenVerifier: leewaySeconds must be 0 to ${MAX_LEEWAY_SECONDS}, got ${opts.leewaySeconds}`,
    );
  }
  const algorithms = [...opts.algorithms];
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new RangeError(`createTokenVerifier: algorithm ${alg} is not an allowed asymmetric algorithm`);
    }
  }
  const allowed = new Set<string>(algorithms);
  const getKey = issuerKeys({
    issuer,
    jwksUri: opts.jwksUri,
    cooldownMs: opts.jwksCooldownMs,
    maxAgeMs: opts.jwksMaxAgeMs,
    timeoutMs: opts.httpTimeoutMs,
    log,
  });

  async function verify(token: string): Promise<VerifiedToken> {
    let kid: string | undefined;
    let sub: string | undefined;
    try {
      const parsed = parseCompact(token, opts.maxTokenLength);
      kid = typeof parsed.header["kid"] === "string" ? parsed.header["kid"] : undefined;
      sub = typeof parsed.payload["sub"] === "string" ? parsed.payload["sub"] : undefined;
      const alg = parsed.header["alg"];
      if (typeof alg !== "string" || !allowed.has(alg)) {
        throw new TokenRejectedError("alg_not_allowed", `token algorithm ${safeText(String(alg))} is not allowed`);
      }
      const typ = parsed.header["typ"];
      if (typ !== undefined && (typeof typ !== "string" || !HEADER_TYPES.has(typ.toLowerCase()))) {
        throw new TokenRejectedError("not_access_token", "the token's header type is not that of an access token");
      }
      // Checked before any key is fetched, so a foreign issuer's tokens cost no JWKS request.
      if (parsed.payload["iss"] !== issuer) {
        throw new TokenRejectedError("wrong_issuer", "the token is from another issuer");
      }
      const payload = await verifySignatureAndTimes(token, getKey, { issuer, algorithms, leeway: opts.leewaySeconds });
      return checkClaims(payload, issuer, audience);
    } catch (err) {
      // IssuerUnavailableError is logged where the fetch failed, once per cooldown.
      if (err instanceof TokenRejectedError) logRefusal(log, err.reason, kid, sub);
      throw err;
    }
  }

  return { verify };
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The two JSON parts of a compact JWS, checked for shape only. */
function parseCompact(
  token: unknown,
  maxLength: number,
): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  if (typeof token !== "string" || token.length === 0) throw new TokenRejectedError("malformed", "no token");
  if (token.length > maxLength) throw new TokenRejectedError("malformed", "the token is too long");
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenRejectedError("malformed", "the token is not a signed JWT (three parts)");
  const [h, p] = parts as [string, string, string];
  const header = jsonPart(h, "header");
  const payload = jsonPart(p, "payload");
  return { header, payload };
}

function jsonPart(part: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new TokenRejectedError("malformed", `the token's ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new TokenRejectedError("malformed", `the token's ${what} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TokenRejectedError("malformed", `the token's ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** jose's signature, `iss`, `exp` and `nbf` checks, its errors turned into natter's reasons. */
async function verifySignatureAndTimes(
  token: string,
  getKey: JWTVerifyGetKey,
  o: { issuer: string; algorithms: string[]; leeway: number },
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, getKey, {
      issuer: o.issuer,
      algorithms: o.algorithms,
      clockTolerance: o.leeway,
      requiredClaims: ["exp"],
    });
    return payload;
  } catch (err) {
    throw refusalFromJose(err);
  }
}

function refusalFromJose(err: unknown): Error {
  if (err instanceof TokenRejectedError || err instanceof IssuerUnavailableError) return err;
  const reject = (reason: TokenRejectionReason, message: string) =>
    new TokenRejectedError(reason, message, { cause: err });
  if (err instanceof joseErrors.JWTExpired) return reject("expired", "the token has expired");
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === "exp")
      return err.reason === "missing"
        ? reject("no_expiry", "the token has no expiry")
        : reject("malformed", "the token's exp is not a number");
    if (err.claim === "nbf")
      return err.reason === "check_failed"
        ? reject("not_yet_valid", "the token is not valid yet")
        : reject("malformed", "the token's nbf is not a number");
    if (err.claim === "iss") return reject("wrong_issuer", "the token is from another issuer");
    return reject("malformed", `the token's ${safeText(err.claim)} claim is invalid`);
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return reject("bad_signature", "the token's signature does not verify");
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return reject("unknown_kid", "the token is signed with a key the issuer does not publish");
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return reject("alg_not_allowed", "the token's algorithm is not allowed");
  if (err instanceof joseErrors.JOSEError || err instanceof TypeError)
    return reject("malformed", "the token is malformed");
  return err instanceof Error ? err : new Error(String(err));
}

/** The claims jose does not check: token type, audience, subject, roles. */
function checkClaims(payload: JWTPayload, issuer: string, audience: string): VerifiedToken {
  if (payload["typ"] !== "Bearer") {
    throw new TokenRejectedError("not_access_token", "not an access token (typ is not Bearer)");
  }
  const aud = payload.aud;
  const azp = typeof payload["azp"] === "string" ? payload["azp"] : undefined;
  const audOk = typeof aud === "string" ? aud === audience : Array.isArray(aud) && aud.includes(audience);
  if (!audOk && azp !== audience) {
    throw new TokenRejectedError("wrong_audience", "the token is not meant for natter");
  }
  const sub = payload.sub;
  if (typeof sub !== "string" || sub.length === 0)
    throw new TokenRejectedError("no_subject", "the token names no subject");
  let userId: UserId;
  try {
    userId = userIdFromSub(sub);
  } catch (cause) {
    throw new TokenRejectedError("bad_subject", "the token's subject cannot be a natter user id", { cause });
  }
  const pu = payload["preferred_username"];
  const name = payload["name"];
  const roles = realmRoles(payload["realm_access"]);
  return {
    userId,
    sub,
    username: typeof pu === "string" && pu.length > 0 ? pu : sub,
    identityName: [name, pu].find((n): n is string => typeof n === "string" && n.trim() !== ""),
    roles,
    realmRole: roles.includes("admin") ? "admin" : roles.includes("user") ? "user" : "none",
    exp: payload.exp as number,
    issuer,
    azp,
  };
}

/** `realm_access.roles` when it is an array of strings; no roles otherwise (never a crash). */
function realmRoles(realmAccess: unknown): string[] {
  if (typeof realmAccess !== "object" || realmAccess === null) return [];
  const roles = (realmAccess as Record<string, unknown>)["roles"];
  if (!Array.isArray(roles) || !roles.every((r): r is string => typeof r === "string")) return [];
  return [...roles];
}

function logRefusal(
  log: Logger | undefined,
  reason: TokenRejectionReason,
  kid: string | undefined,
  sub: string | undefined,
): void {
  if (!log) return;
  const fields = {
    reason,
    kid: kid === undefined ? undefined : safeText(kid),
    sub: sub === undefined ? undefined : safeText(sub),
  };
  // Expiry is routine (a client that reconnects late); everything else may be an attack.
  if (reason === "expired" || reason === "not_yet_valid") log.info(fields, `token refused: ${reason}`);
  else log.warn(fields, `token refused: ${reason}`);
}

function safeText(s: string): string {
  return s.length > LOGGED_CLAIM_MAX ? `${s.slice(0, LOGGED_CLAIM_MAX)}…` : s;
}

import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors } from "jose";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import type { Logger } from "pino";
import { IssuerUnavailableError } from "./errors.ts";

export interface IssuerKeysOptions {
  /** The issuer; its discovery document is `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  /** The JWKS URL; when set, discovery is skipped. */
  jwksUri?: string | undefined;
  /** Least time between two JWKS fetches caused by an unknown `kid`, and between retries after a failed fetch, ms. */
  cooldownMs: number;
  /** How long a fetched JWKS is used before it is fetched again, ms. */
  maxAgeMs: number;
  /** Timeout of one discovery or JWKS request, ms. */
  timeoutMs: number;
  log?: Logger | undefined;
}

/**
 * The issuer's signing keys for jose's `jwtVerify`: discovery once, then jose's remote JWKS
 * (cached for `maxAgeMs`, fetched again on an unknown `kid` at most once per `cooldownMs`).
 *
 * When a fetch fails, the last JWKS that was fetched keeps verifying tokens, and no new fetch is
 * tried before the cooldown has passed: an issuer outage neither locks out people whose keys
 * are known nor turns every token into a request to the issuer. With nothing fetched yet, the
 * failure is an IssuerUnavailableError. An unknown `kid` stays jose's JWKSNoMatchingKey.
 */
export function issuerKeys(o: IssuerKeysOptions): JWTVerifyGetKey {
  let remote: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  let failedAt = -Infinity;
  let failure: IssuerUnavailableError | undefined;
  let lastGood: { jwks: JSONWebKeySet; local: ReturnType<typeof createLocalJWKSet> } | undefined;

  const fail = (err: IssuerUnavailableError): IssuerUnavailableError => {
    if (Date.now() - failedAt >= o.cooldownMs)
      o.log?.error(
        { reason: err.reason, err: err.cause instanceof Error ? err.cause.message : undefined },
        err.message,
      );
    failedAt = Date.now();
    failure = err;
    return err;
  };

  const fromLastGood: JWTVerifyGetKey = (header, token) => {
    if (!lastGood) throw failure ?? new IssuerUnavailableError("the issuer's keys could not be fetched");
    return lastGood.local(header, token);
  };

  return async (header, token) => {
    if (Date.now() - failedAt < o.cooldownMs) return fromLastGood(header, token);
    remote ??= discover(o).then(
      (jwksUri) =>
        createRemoteJWKSet(new URL(jwksUri), {
          cooldownDuration: o.cooldownMs,
          cacheMaxAge: o.maxAgeMs,
          timeoutDuration: o.timeoutMs,
        }),
      (err: unknown) => {
        remote = undefined;
        throw err;
      },
    );
    let set: Awaited<typeof remote>;
    try {
      set = await remote;
    } catch (err) {
      throw fail(
        err instanceof IssuerUnavailableError
          ? err
          : new IssuerUnavailableError("the issuer's discovery document could not be fetched", { cause: err }),
      );
    }
    try {
      return await set(header, token);
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) throw err;
      // Key-level problems (an unusable key in the set) are the token's affair; anything else is the fetch failing.
      if (
        err instanceof joseErrors.JOSEError &&
        !(err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) &&
        err.code !== "ERR_JOSE_GENERIC"
      )
        throw err;
      fail(new IssuerUnavailableError("the issuer's keys could not be fetched", { cause: err }));
      return fromLastGood(header, token);
    } finally {
      const jwks = set.jwks();
      if (jwks && jwks !== lastGood?.jwks) lastGood = { jwks, local: createLocalJWKSet(jwks) };
    }
  };
}

/** The `jwks_uri` of the issuer's discovery document, which must name the same issuer. */
async function discover(o: IssuerKeysOptions): Promise<string> {
  if (o.jwksUri !== undefined) return o.jwksUri;
  const url = `${o.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let doc: unknown;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(o.timeoutMs),
      headers: { accept: "application/json" },
      redirect: "error",
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${url}`);
    doc = await res.json();
  } catch (cause) {
    throw new IssuerUnavailableError(`the issuer's discovery document could not be fetched from ${url}`, { cause });
  }
  const d = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
  if (d["issuer"] !== o.issuer) {
    throw new IssuerUnavailableError(
      `the discovery document at ${url} names another issuer (${String(d["issuer"]).slice(0, 200)})`,
    );
  }
  const jwksUri = d["jwks_uri"];
  if (typeof jwksUri !== "string" || !/^https?:\/\//.test(jwksUri)) {
    throw new IssuerUnavailableError(`the discovery document at ${url} has no usable jwks_uri`);
  }
  return jwksUri;
}

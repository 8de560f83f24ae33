import { createHmac, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { CompactSign, exportJWK, exportSPKI, generateKeyPair } from "jose";
import type { CryptoKey, JWK, JWTPayload } from "jose";
import type { TokenRejectionReason } from "../errors.ts";

/** A key pair of the crafted-token issuer, with its public JWK as published. */
export interface LabKey {
  kid: string;
  alg: "RS256" | "ES256" | "EdDSA";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

/**
 * A token issuer for tests that craft tokens by hand: a real HTTP server with a discovery
 * document and a JWKS that the test may change, counting the requests to each; real RS256,
 * ES256 and EdDSA keys, and a "foreign" RSA key that it never publishes.
 */
export interface TokenLab {
  readonly issuer: string;
  readonly audience: string;
  /** RS256, ES256, EdDSA: the keys published at start. */
  readonly keys: { rsa: LabKey; ec: LabKey; ed: LabKey; foreign: LabKey };
  /** The keys the JWKS endpoint serves now; replace or edit it to rotate. */
  published: LabKey[];
  /** Requests served so far. */
  readonly requests: { discovery: number; jwks: number };
  /** When true, the JWKS endpoint answers 503 (an issuer outage). */
  jwksDown: boolean;
  /** Keycloak-shaped access-token claims for a user, at the current `Date.now()`; `overrides` replace or (as `undefined`) remove claims. */
  claims(overrides?: Record<string, unknown>): JWTPayload;
  /** Signs `payload` as it is (no claim checked) with `key` (default RSA), header `{ alg, kid, typ: "JWT" }` unless `header` changes it. */
  sign(payload: JWTPayload, key?: LabKey, header?: Record<string, unknown>): Promise<string>;
  /** Makes a new key of the given kind (not published until the test adds it to `published`). */
  newKey(alg: LabKey["alg"], kid?: string): Promise<LabKey>;
  close(): Promise<void>;
}

/** The sub of the crafted tokens' user: a Keycloak-style UUID. */
export const LAB_SUB = "f81d4fae-7dec-41d0-a765-00a0c91e6bf6";

/** Starts a crafted-token issuer on a free loopback port at `/realms/lab`. */
export async function startTokenLab(audience = "natter"): Promise<TokenLab> {
  const newKey = async (
    alg: LabKey["alg"],
    kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`,
  ): Promise<LabKey> => {
    const { publicKey, privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}),
    });
    return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
  };
  const keys = {
    rsa: await newKey("RS256"),
    ec: await newKey("ES256"),
    ed: await newKey("EdDSA"),
    foreign: await newKey("RS256"),
  };
  const requests = { discovery: 0, jwks: 0 };
  let base = "";
  const lab: TokenLab = {
    issuer: "",
    audience,
    keys,
    published: [keys.rsa, keys.ec, keys.ed],
    requests,
    jwksDown: false,
    claims(overrides = {}) {
      const now = Math.floor(Date.now() / 1000);
      const c: Record<string, unknown> = {
        exp: now + 300,
        iat: now,
        jti: randomUUID(),
        iss: lab.issuer,
        aud: [audience, "account"],
        sub: LAB_SUB,
        typ: "Bearer",
        azp: "natter-web",
        sid: randomUUID(),
        "allowed-origins": ["http://localhost:8080"],
        realm_access: { roles: ["default-roles-natter", "offline_access", "uma_authorization", "user"] },
        resource_access: { account: { roles: ["manage-account", "view-profile"] } },
        scope: "openid profile email",
        email_verified: false,
        preferred_username: "alice",
        ...overrides,
      };
      for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
      return c as JWTPayload;
    },
    sign(payload, key = keys.rsa, header = {}) {
      return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })
        .sign(key.privateKey);
    },
    newKey,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server = createServer((req, res) => {
    if (req.url === "/realms/lab/.well-known/openid-configuration") {
      requests.discovery++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer: lab.issuer, jwks_uri: `${base}/realms/lab/protocol/openid-connect/certs` }));
    } else if (req.url === "/realms/lab/protocol/openid-connect/certs") {
      requests.jwks++;
      if (lab.jwksDown) return void res.writeHead(503).end();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: lab.published.map((k) => k.jwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  (lab as { issuer: string }).issuer = `${base}/realms/lab`;
  return lab;
}

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** A bad token and the reason natter must give for refusing it. */
export interface BadTokenCase {
  name: string;
  reason: TokenRejectionReason;
  make(lab: TokenLab): Promise<string>;
}

/**
 * Bad tokens, each refused for its own reason, made with real keys at the current time. Only the
 * `unknown_kid` one can make the verifier fetch the JWKS again (at most once per cooldown).
 */
export const BAD_TOKEN_CASES: readonly BadTokenCase[] = [
  { name: "empty string", reason: "malformed", make: async () => "" },
  { name: "garbage", reason: "malformed", make: async () => "this is not a token" },
  {
    name: "two parts",
    reason: "malformed",
    make: async (lab) => (await lab.sign(lab.claims())).split(".").slice(0, 2).join("."),
  },
  { name: "four parts", reason: "malformed", make: async (lab) => `${await lab.sign(lab.claims())}.x` },
  {
    name: "payload not JSON",
    reason: "malformed",
    make: async (lab) => `${b64({ alg: "RS256", kid: lab.keys.rsa.kid })}.${b64("{not json")}.AAAA`,
  },
  {
    name: "payload a JSON array",
    reason: "malformed",
    make: async (lab) => `${b64({ alg: "RS256", kid: lab.keys.rsa.kid })}.${b64([1, 2])}.AAAA`,
  },
  {
    name: "longer than 16 KiB",
    reason: "malformed",
    make: async (lab) => lab.sign(lab.claims({ pad: "x".repeat(17_000) })),
  },
  { name: "exp not a number", reason: "malformed", make: async (lab) => lab.sign(lab.claims({ exp: "tomorrow" })) },
  {
    name: "alg none",
    reason: "alg_not_allowed",
    make: async (lab) => `${b64({ alg: "none", typ: "JWT" })}.${b64(lab.claims())}.`,
  },
  {
    name: "HS256 signed with the issuer's public key (key confusion)",
    reason: "alg_not_allowed",
    make: async (lab) => {
      const signingInput = `${b64({ alg: "HS256", typ: "JWT", kid: lab.keys.rsa.kid })}.${b64(lab.claims({ realm_access: { roles: ["admin"] } }))}`;
      const secret = await exportSPKI(lab.keys.rsa.publicKey);
      return `${signingInput}.${createHmac("sha256", secret).update(signingInput).digest("base64url")}`;
    },
  },
  {
    name: "HS512 header",
    reason: "alg_not_allowed",
    make: async (lab) => `${b64({ alg: "HS512", kid: lab.keys.rsa.kid })}.${b64(lab.claims())}.AAAA`,
  },
  {
    name: "ES256K (not on the allow-list)",
    reason: "alg_not_allowed",
    make: async (lab) => `${b64({ alg: "ES256K", kid: lab.keys.ec.kid })}.${b64(lab.claims())}.AAAA`,
  },
  {
    name: "tampered payload (roles raised to admin)",
    reason: "bad_signature",
    make: async (lab) => {
      const [h, , s] = (await lab.sign(lab.claims())).split(".");
      return `${h}.${b64(lab.claims({ realm_access: { roles: ["admin", "user"] } }))}.${s}`;
    },
  },
  {
    name: "signature of another token",
    reason: "bad_signature",
    make: async (lab) => {
      const [h, p] = (await lab.sign(lab.claims({ preferred_username: "mallory" }))).split(".");
      const s = (await lab.sign(lab.claims())).split(".")[2];
      return `${h}.${p}.${s}`;
    },
  },
  {
    name: "empty signature",
    reason: "bad_signature",
    make: async (lab) => (await lab.sign(lab.claims())).replace(/[^.]+$/, ""),
  },
  {
    name: "a header embedding its own key (jwk) under the issuer's kid",
    reason: "bad_signature",
    make: async (lab) => lab.sign(lab.claims(), lab.keys.foreign, { kid: lab.keys.rsa.kid, jwk: lab.keys.foreign.jwk }),
  },
  {
    name: "another issuer's key under the issuer's kid",
    reason: "bad_signature",
    make: async (lab) => lab.sign(lab.claims(), lab.keys.foreign, { kid: lab.keys.rsa.kid }),
  },
  {
    name: "wrong iss",
    reason: "wrong_issuer",
    make: async (lab) => lab.sign(lab.claims({ iss: "http://127.0.0.1:1/realms/other" })),
  },
  {
    name: "iss with a trailing slash",
    reason: "wrong_issuer",
    make: async (lab) => lab.sign(lab.claims({ iss: `${lab.issuer}/` })),
  },
  { name: "no iss", reason: "wrong_issuer", make: async (lab) => lab.sign(lab.claims({ iss: undefined })) },
  {
    name: "no aud and an azp of another client",
    reason: "wrong_audience",
    make: async (lab) => lab.sign(lab.claims({ aud: undefined, azp: "other-app" })),
  },
  { name: "a wrong aud", reason: "wrong_audience", make: async (lab) => lab.sign(lab.claims({ aud: "account" })) },
  {
    name: "an aud array without natter",
    reason: "wrong_audience",
    make: async (lab) => lab.sign(lab.claims({ aud: ["account", "broker"] })),
  },
  {
    name: "an ID token (typ ID)",
    reason: "not_access_token",
    make: async (lab) => lab.sign(lab.claims({ typ: "ID", aud: "natter-web", azp: "natter-web" })),
  },
  {
    name: "a refresh token (typ Refresh)",
    reason: "not_access_token",
    make: async (lab) => lab.sign(lab.claims({ typ: "Refresh" })),
  },
  { name: "no typ claim", reason: "not_access_token", make: async (lab) => lab.sign(lab.claims({ typ: undefined })) },
  {
    name: "a logout token header (typ logout+jwt)",
    reason: "not_access_token",
    make: async (lab) => lab.sign(lab.claims(), lab.keys.rsa, { typ: "logout+jwt" }),
  },
  {
    name: "expired beyond the leeway",
    reason: "expired",
    make: async (lab) =>
      lab.sign(lab.claims({ exp: Math.floor(Date.now() / 1000) - 31, iat: Math.floor(Date.now() / 1000) - 400 })),
  },
  {
    name: "nbf in the future beyond the leeway",
    reason: "not_yet_valid",
    make: async (lab) => lab.sign(lab.claims({ nbf: Math.floor(Date.now() / 1000) + 31 })),
  },
  { name: "no exp", reason: "no_expiry", make: async (lab) => lab.sign(lab.claims({ exp: undefined })) },
  { name: "no sub", reason: "no_subject", make: async (lab) => lab.sign(lab.claims({ sub: undefined })) },
  { name: "an empty sub", reason: "no_subject", make: async (lab) => lab.sign(lab.claims({ sub: "" })) },
  {
    name: "a sub that maps to too long an id",
    reason: "bad_subject",
    make: async (lab) => lab.sign(lab.claims({ sub: `${"a".repeat(30)}@example.com` })),
  },
  {
    name: "a key from another issuer, with its own kid",
    reason: "unknown_kid",
    make: async (lab) => lab.sign(lab.claims(), lab.keys.foreign),
  },
];

import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/** A Keycloak-shaped token issuer for tests: real RS256 keys, a discovery document and a JWKS over HTTP. */
export type TestIssuer = {
  readonly issuer: string;
  /** JWKS requests served so far. */
  readonly jwksFetches: number;
  /** Signs an access token for `username` with `roles`; `claims` override anything. */
  token(
    username: string,
    roles: string[],
    claims?: JWTPayload,
    options?: { expiresInSec?: number; kid?: string },
  ): Promise<string>;
  /** The stable `sub` of a username. */
  subOf(username: string): string;
  /** Adds a new signing key (published at once) and signs with it from now on. */
  rotate(): Promise<void>;
  close(): Promise<void>;
};

/** Starts a test issuer on a free loopback port, at `/realms/natter`. */
export async function startTestIssuer(audience = "natter"): Promise<TestIssuer> {
  const keys: { kid: string; privateKey: CryptoKey; jwk: JWK }[] = [];
  const addKey = async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const kid = randomUUID();
    keys.unshift({ kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } });
  };
  await addKey();
  const subs = new Map<string, string>();
  let fetches = 0;
  let base = "";
  const server: Server = createServer((req, res) => {
    if (req.url === "/realms/natter/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          issuer: `${base}/realms/natter`,
          jwks_uri: `${base}/realms/natter/protocol/openid-connect/certs`,
          token_endpoint: `${base}/realms/natter/protocol/openid-connect/token`,
        }),
      );
      return;
    }
    if (req.url === "/realms/natter/protocol/openid-connect/certs") {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${base}/realms/natter`;
  const subOf = (username: string) => {
    let s = subs.get(username);
    if (s === undefined) subs.set(username, (s = randomUUID()));
    return s;
  };
  return {
    issuer,
    get jwksFetches() {
      return fetches;
    },
    subOf,
    async token(username, roles, claims = {}, options = {}) {
      const key = keys[0]!;
      const now = Math.floor(Date.now() / 1000);
      const { exp, ...rest } = claims;
      return new SignJWT({
        typ: "Bearer",
        azp: "natter-cli",
        preferred_username: username,
        realm_access: { roles },
        scope: "openid profile",
        ...rest,
      })
        .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: options.kid ?? key.kid })
        .setIssuer(issuer)
        .setSubject(subOf(username))
        .setAudience(audience)
        .setIssuedAt(now)
        .setJti(randomUUID())
        .setExpirationTime(exp ?? now + (options.expiresInSec ?? 300))
        .sign(key.privateKey);
    },
    rotate: addKey,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

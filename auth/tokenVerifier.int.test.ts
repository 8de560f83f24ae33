import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeProtectedHeader } from "jose";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { UnauthenticatedError, UnavailableError, userIdFromSub } from "../domain/index.ts";
import { IssuerUnavailableError, TokenRejectedError } from "./errors.ts";
import { createTokenVerifier } from "./tokenVerifier.ts";
import type { TokenVerifier } from "./tokenVerifier.ts";
import { BAD_TOKEN_CASES, LAB_SUB, startTokenLab } from "./testing/craftedTokens.ts";
import type { TokenLab } from "./testing/craftedTokens.ts";
import { startDevIdpServer } from "./testing/devIdpServer.ts";
import type { DevIdpServer } from "./testing/devIdpServer.ts";

/** A pino logger whose lines the test can read. */
function capturedLog() {
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
  return { log, lines };
}

async function refusal(verifier: TokenVerifier, token: string): Promise<TokenRejectedError> {
  const err: unknown = await verifier.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TokenRejectedError))
    throw new Error(`expected a TokenRejectedError, got ${err === undefined ? "acceptance" : String(err)}`);
  return err;
}

const now = () => Math.floor(Date.now() / 1000);
const JWKS_PATH = "/realms/natter/protocol/openid-connect/certs";

describe("token verifier, crafted tokens", () => {
  let lab: TokenLab;
  let verifier: TokenVerifier;
  const { log, lines } = capturedLog();
  const tokensSeen: string[] = [];

  beforeAll(async () => {
    lab = await startTokenLab();
    verifier = createTokenVerifier({ issuer: lab.issuer, audience: "natter", log });
  });
  afterAll(async () => {
    await lab.close();
  });

  it.each(BAD_TOKEN_CASES)("refuses $name: $reason", async (c) => {
    const token = await c.make(lab);
    tokensSeen.push(token);
    const err = await refusal(verifier, token);
    expect(err.reason).toBe(c.reason);
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect(err.code).toBe("unauthenticated");
    expect(err.toJSON().details).toEqual({ reason: c.reason });
    if (token.length > 0) expect(err.message).not.toContain(token.slice(0, 40));
  });

  it("fetched the discovery document and the JWKS once for all of them (the unknown kid came within the cooldown)", () => {
    expect(BAD_TOKEN_CASES.length).toBeGreaterThanOrEqual(20);
    expect(new Set(BAD_TOKEN_CASES.map((c) => c.reason)).size).toBe(12);
    expect(lab.requests).toEqual({ discovery: 1, jwks: 1 });
  });

  it("accepts a Keycloak-shaped RS256 access token", async () => {
    const token = await lab.sign(lab.claims());
    const v = await verifier.verify(token);
    expect(v).toEqual({
      userId: LAB_SUB,
      sub: LAB_SUB,
      username: "alice",
      identityName: "alice",
      roles: ["default-roles-natter", "offline_access", "uma_authorization", "user"],
      realmRole: "user",
      exp: expect.any(Number),
      issuer: lab.issuer,
      azp: "natter-web",
    });
    expect(v.exp).toBeGreaterThan(now());
  });

  it("accepts ES256 and EdDSA, and the header typ at+jwt or none", async () => {
    await expect(verifier.verify(await lab.sign(lab.claims(), lab.keys.ec))).resolves.toMatchObject({
      userId: LAB_SUB,
    });
    await expect(verifier.verify(await lab.sign(lab.claims(), lab.keys.ed))).resolves.toMatchObject({
      userId: LAB_SUB,
    });
    await expect(verifier.verify(await lab.sign(lab.claims(), lab.keys.rsa, { typ: "at+jwt" }))).resolves.toMatchObject(
      { userId: LAB_SUB },
    );
    await expect(
      verifier.verify(await lab.sign(lab.claims(), lab.keys.rsa, { typ: undefined })),
    ).resolves.toMatchObject({ userId: LAB_SUB });
  });

  it("accepts exp and nbf within the 30 s leeway", async () => {
    const t = now();
    const v = await verifier.verify(await lab.sign(lab.claims({ exp: t - 20, nbf: t + 20, iat: t - 300 })));
    expect(v.exp).toBe(t - 20);
  });

  it("takes the audience from azp when aud does not name it, and aud as a plain string", async () => {
    await expect(verifier.verify(await lab.sign(lab.claims({ aud: "account", azp: "natter" })))).resolves.toMatchObject(
      { azp: "natter" },
    );
    await expect(verifier.verify(await lab.sign(lab.claims({ aud: undefined, azp: "natter" })))).resolves.toMatchObject(
      { azp: "natter" },
    );
    await expect(verifier.verify(await lab.sign(lab.claims({ aud: "natter", azp: undefined })))).resolves.toMatchObject(
      { azp: undefined },
    );
  });

  it("reads realm roles: admin before user before none; a malformed claim means no role, not a crash", async () => {
    const roleOf = async (realm_access: unknown) => {
      const v = await verifier.verify(await lab.sign(lab.claims({ realm_access })));
      return [v.realmRole, v.roles];
    };
    expect(await roleOf({ roles: ["user", "admin"] })).toEqual(["admin", ["user", "admin"]]);
    expect(await roleOf({ roles: ["offline_access"] })).toEqual(["none", ["offline_access"]]);
    expect(await roleOf({ roles: "admin" })).toEqual(["none", []]);
    expect(await roleOf({ roles: ["admin", 7] })).toEqual(["none", []]);
    expect(await roleOf("admin")).toEqual(["none", []]);
    expect(await roleOf(null)).toEqual(["none", []]);
    expect(await roleOf(undefined)).toEqual(["none", []]);
  });

  it("maps a sub outside the id alphabet, and shows sub when there is no preferred_username", async () => {
    const v = await verifier.verify(
      await lab.sign(lab.claims({ sub: "alice@example.com", preferred_username: undefined })),
    );
    expect(v.userId).toBe(userIdFromSub("alice@example.com"));
    expect(v.userId).toMatch(/^x_[0-9a-f]+$/);
    expect(v.username).toBe("alice@example.com");
  });

  it("logs each refusal with its reason and kid, and never a token", () => {
    const logged = lines.join("");
    for (const c of BAD_TOKEN_CASES) expect(logged).toContain(`"reason":"${c.reason}"`);
    expect(logged).toContain(`"kid":"${lab.keys.rsa.kid}"`);
    expect(logged).toContain(`"sub":"${LAB_SUB}"`);
    for (const token of tokensSeen) {
      for (const part of token.split(".")) if (part.length >= 16) expect(logged).not.toContain(part.slice(0, 16));
    }
  });

  it("refuses options that would weaken it", () => {
    expect(() => createTokenVerifier({ issuer: lab.issuer, audience: "natter", leewaySeconds: 31 })).toThrow(
      RangeError,
    );
    expect(() => createTokenVerifier({ issuer: lab.issuer, audience: "natter", leewaySeconds: -1 })).toThrow(
      RangeError,
    );
    expect(() =>
      createTokenVerifier({ issuer: lab.issuer, audience: "natter", algorithms: ["HS256" as "RS256"] }),
    ).toThrow(RangeError);
    expect(() => createTokenVerifier({ issuer: lab.issuer, audience: "" })).toThrow(TypeError);
  });

  it("a smaller algorithm list refuses the others", async () => {
    const rsOnly = createTokenVerifier({ issuer: lab.issuer, audience: "natter", algorithms: ["RS256"] });
    expect((await refusal(rsOnly, await lab.sign(lab.claims(), lab.keys.ec))).reason).toBe("alg_not_allowed");
    await expect(rsOnly.verify(await lab.sign(lab.claims()))).resolves.toMatchObject({ userId: LAB_SUB });
  });
});

describe("token verifier, key ids and rotation (crafted)", () => {
  let lab: TokenLab;

  beforeAll(async () => {
    lab = await startTokenLab();
  });
  afterAll(async () => {
    await lab.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("refetches the JWKS once on an unknown kid, then refuses; within the cooldown it fetches nothing more", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verifier = createTokenVerifier({ issuer: lab.issuer, audience: "natter", jwksMaxAgeMs: 120_000 });
    await verifier.verify(await lab.sign(lab.claims()));
    expect(lab.requests).toEqual({ discovery: 1, jwks: 1 });

    vi.setSystemTime(Date.now() + 31_000);
    const foreign = await lab.sign(lab.claims(), lab.keys.foreign);
    expect((await refusal(verifier, foreign)).reason).toBe("unknown_kid");
    expect(lab.requests.jwks).toBe(2);

    const other = await lab.newKey("ES256");
    expect((await refusal(verifier, await lab.sign(lab.claims(), other))).reason).toBe("unknown_kid");
    expect((await refusal(verifier, foreign)).reason).toBe("unknown_kid");
    expect(lab.requests.jwks).toBe(2);

    // A key published during the cooldown is found after it, with one fetch.
    lab.published = [other, ...lab.published];
    const withNew = await lab.sign(lab.claims(), other);
    expect((await refusal(verifier, withNew)).reason).toBe("unknown_kid");
    expect(lab.requests.jwks).toBe(2);
    vi.setSystemTime(Date.now() + 31_000);
    await expect(verifier.verify(await lab.sign(lab.claims(), other))).resolves.toMatchObject({ userId: LAB_SUB });
    expect(lab.requests.jwks).toBe(3);

    // A key removed from the JWKS: its tokens are refused once the cached set is replaced.
    lab.published = lab.published.filter((k) => k !== lab.keys.ec);
    await expect(verifier.verify(await lab.sign(lab.claims(), lab.keys.ec))).resolves.toBeDefined();
    vi.setSystemTime(Date.now() + 121_000);
    expect((await refusal(verifier, await lab.sign(lab.claims(), lab.keys.ec))).reason).toBe("unknown_kid");
    expect(lab.requests.jwks).toBe(4);
    expect((await refusal(verifier, await lab.sign(lab.claims(), lab.keys.ec))).reason).toBe("unknown_kid");
    expect(lab.requests).toEqual({ discovery: 1, jwks: 4 });
  });

  it("during a JWKS outage keeps verifying with the keys it has, and does not hammer the issuer", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verifier = createTokenVerifier({ issuer: lab.issuer, audience: "natter", jwksMaxAgeMs: 60_000 });
    await verifier.verify(await lab.sign(lab.claims()));
    const fetched = lab.requests.jwks;
    lab.jwksDown = true;
    try {
      // The cache is stale: one fetch is tried, fails, and the last keys still verify.
      vi.setSystemTime(Date.now() + 61_000);
      await expect(verifier.verify(await lab.sign(lab.claims()))).resolves.toMatchObject({ userId: LAB_SUB });
      expect(lab.requests.jwks).toBe(fetched + 1);
      // Within the cooldown nothing is fetched, known keys verify, unknown ones are refused.
      for (let i = 0; i < 5; i++) {
        await expect(verifier.verify(await lab.sign(lab.claims(), lab.keys.ed))).resolves.toMatchObject({
          userId: LAB_SUB,
        });
        expect((await refusal(verifier, await lab.sign(lab.claims(), lab.keys.foreign))).reason).toBe("unknown_kid");
      }
      expect(lab.requests.jwks).toBe(fetched + 1);
      vi.setSystemTime(Date.now() + 31_000);
      lab.jwksDown = false;
      await expect(verifier.verify(await lab.sign(lab.claims()))).resolves.toMatchObject({ userId: LAB_SUB });
      expect(lab.requests.jwks).toBe(fetched + 2);
    } finally {
      lab.jwksDown = false;
    }
  });

  it("says the issuer is unavailable (not the token's fault) when discovery fails, and retries only after the cooldown", async () => {
    let hits = 0;
    let answer: "down" | "other-issuer" = "down";
    const server = createServer((_req, res) => {
      hits++;
      if (answer === "down") res.writeHead(503).end();
      else
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ issuer: "http://elsewhere", jwks_uri: "http://elsewhere/certs" }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      vi.useFakeTimers({ toFake: ["Date"] });
      const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realms/down`;
      const verifier = createTokenVerifier({ issuer, audience: "natter" });
      const token = await lab.sign(lab.claims({ iss: issuer }));
      const err = await verifier.verify(token).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IssuerUnavailableError);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as IssuerUnavailableError).reason).toBe("issuer_unavailable");
      await expect(verifier.verify(token)).rejects.toBeInstanceOf(IssuerUnavailableError);
      expect(hits).toBe(1);
      answer = "other-issuer";
      vi.setSystemTime(Date.now() + 31_000);
      await expect(verifier.verify(token)).rejects.toThrow(/names another issuer/);
      expect(hits).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("token verifier against the development IdP", () => {
  let dir: string;
  let idp: DevIdpServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natter-verifier-"));
    idp = await startDevIdpServer({ dataDir: dir });
  });
  afterAll(async () => {
    vi.useRealTimers();
    await idp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts a token signed with a rotated-in key after one refetch; a key rotated out is refused", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verifier = createTokenVerifier({ issuer: idp.issuer, audience: "natter" });
    const certs = () => idp.requests.get(JWKS_PATH) ?? 0;
    const kidOf = (t: string) => decodeProtectedHeader(t).kid;

    const first = await idp.accessToken("alice", "alice123");
    await expect(verifier.verify(first)).resolves.toMatchObject({ username: "alice", realmRole: "admin" });
    expect(certs()).toBe(1);

    await idp.idp.rotateKeys();
    vi.setSystemTime(Date.now() + 31_000);
    const second = await idp.accessToken("bob", "bob123");
    expect(kidOf(second)).not.toBe(kidOf(first));
    await expect(verifier.verify(second)).resolves.toMatchObject({ username: "bob", realmRole: "user" });
    expect(certs()).toBe(2);
    await expect(verifier.verify(first)).resolves.toMatchObject({ username: "alice" });
    expect(certs()).toBe(2);

    await idp.idp.rotateKeys();
    vi.setSystemTime(Date.now() + 31_000);
    const third = await idp.accessToken("charlie", "charlie123");
    await expect(verifier.verify(third)).resolves.toMatchObject({ username: "charlie", realmRole: "none", roles: [] });
    expect(certs()).toBe(3);
    expect((await refusal(verifier, first)).reason).toBe("unknown_kid");
    await expect(verifier.verify(second)).resolves.toMatchObject({ username: "bob" });
    expect(certs()).toBe(3);
  });

  it("refuses the dev IdP's token for another audience, and for another issuer's verifier", async () => {
    const token = await idp.accessToken("bob", "bob123");
    const otherAudience = createTokenVerifier({ issuer: idp.issuer, audience: "billing" });
    expect((await refusal(otherAudience, token)).reason).toBe("wrong_audience");
    const otherIssuer = createTokenVerifier({ issuer: `${idp.origin}/realms/other`, audience: "natter" });
    expect((await refusal(otherIssuer, token)).reason).toBe("wrong_issuer");
  });
});

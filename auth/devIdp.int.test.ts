import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIdp } from "./devIdp.ts";
import { subjectFor } from "./devIdpUsers.ts";
import { createTokenVerifier } from "./tokenVerifier.ts";
import type { TokenVerifier } from "./tokenVerifier.ts";
import { startDevIdpServer } from "./testing/devIdpServer.ts";
import type { DevIdpServer } from "./testing/devIdpServer.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Just enough of a browser: a cookie jar with paths, manual redirects. */
class Browser {
  readonly #jar = new Map<string, { value: string; path: string }>();

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const cookies = [...this.#jar].filter(([, c]) => u.pathname.startsWith(c.path)).map(([n, c]) => `${n}=${c.value}`);
    const headers = new Headers(init.headers);
    if (cookies.length) headers.set("cookie", cookies.join("; "));
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair = "", ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attrs.find((a) => a.toLowerCase().startsWith("path="))?.slice(5) ?? "/";
      const expired = attrs.some((a) => /^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now()) || value === "";
      if (expired) this.#jar.delete(name);
      else this.#jar.set(name, { value, path });
    }
    return res;
  }

  /** Follows redirects with GET until a page answers or the redirect leaves for `stopAt`; returns the last response and URL. */
  async follow(url: string, stopAt: string, init: RequestInit = {}): Promise<{ res: Response; url: string }> {
    let res = await this.request(url, init);
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops++) {
      const next = new URL(res.headers.get("location") ?? "", url).href;
      await res.arrayBuffer();
      if (next.startsWith(stopAt)) return { res, url: next };
      url = next;
      res = await this.request(url);
    }
    return { res, url };
  }
}

const b64url = (b: Buffer) => b.toString("base64url");

describe("development identity provider", () => {
  let dir: string;
  let server: DevIdpServer;
  let verifier: TokenVerifier;
  let discovery: Record<string, unknown>;
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natter-idp-"));
    server = await startDevIdpServer({ dataDir: dir, log });
    verifier = createTokenVerifier({ issuer: server.issuer, audience: "natter" });
    discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const tokenRequest = async (params: Record<string, string>) => {
    const res = await fetch(String(discovery["token_endpoint"]), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("publishes a discovery document under its path prefix, naming the token endpoint and the JWKS", async () => {
    expect(discovery["issuer"]).toBe(server.issuer);
    expect(server.issuer).toMatch(/\/realms\/natter$/);
    expect(discovery["token_endpoint"]).toBe(`${server.issuer}/protocol/openid-connect/token`);
    expect(discovery["jwks_uri"]).toBe(`${server.issuer}/protocol/openid-connect/certs`);
    expect(discovery["authorization_endpoint"]).toBe(`${server.issuer}/protocol/openid-connect/auth`);
    expect(discovery["grant_types_supported"]).toEqual(
      expect.arrayContaining(["authorization_code", "refresh_token", "password"]),
    );
    expect(discovery["code_challenge_methods_supported"]).toEqual(["S256"]);
    expect(discovery["response_types_supported"]).toEqual(["code"]);
    expect(discovery["grant_types_supported"]).not.toContain("implicit");
    const jwks = (await (await fetch(String(discovery["jwks_uri"]))).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
    expect(jwks.keys[0]).not.toHaveProperty("d");
  });

  it("says at start that it is for development only, and never logs a token or a password", async () => {
    const token = await server.accessToken("alice", "alice123");
    await server.passwordGrant("bob", "wrong-password");
    const all = lines.join("");
    expect(all).toMatch(/DEVELOPMENT identity provider.*never for production/);
    expect(all).not.toContain(token.split(".")[1]);
    expect(all).not.toContain("alice123");
    expect(all).not.toContain("wrong-password");
  });

  it("gives natter-cli a Keycloak-shaped access token by password grant, with each user's roles", async () => {
    const expected = { alice: ["admin", ["admin", "user"]], bob: ["user", ["user"]], charlie: ["none", []] } as const;
    for (const [username, [realmRole, roles]] of Object.entries(expected)) {
      const { status, body } = await server.passwordGrant(username, `${username}123`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        token_type: "Bearer",
        expires_in: 300,
        refresh_token: expect.any(String),
        id_token: expect.any(String),
      });
      const token = body["access_token"] as string;
      const claims = decodeJwt(token);
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: "RS256", typ: "at+jwt", kid: expect.any(String) });
      expect(claims).toMatchObject({
        iss: server.issuer,
        aud: "natter",
        azp: "natter-cli",
        typ: "Bearer",
        preferred_username: username,
        realm_access: { roles },
        resource_access: { account: { roles: expect.any(Array) } },
        scope: "openid profile",
        jti: expect.any(String),
      });
      expect(claims.sub).toMatch(UUID);
      expect(claims.sub).toBe(subjectFor(username));
      expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(300);
      const v = await verifier.verify(token);
      expect(v).toMatchObject({ userId: claims.sub, username, realmRole, roles, azp: "natter-cli" });
    }
  });

  it("refuses a wrong password, an unknown user and a missing password; natter-web may not use the password grant", async () => {
    expect(await server.passwordGrant("alice", "alice124")).toMatchObject({
      status: 400,
      body: { error: "invalid_grant" },
    });
    expect(await server.passwordGrant("mallory", "alice123")).toMatchObject({
      status: 400,
      body: { error: "invalid_grant" },
    });
    const missing = await tokenRequest({ grant_type: "password", client_id: "natter-cli", username: "alice" });
    expect(missing).toMatchObject({ status: 400, body: { error: "invalid_request" } });
    const web = await tokenRequest({
      grant_type: "password",
      client_id: "natter-web",
      username: "alice",
      password: "alice123",
    });
    // oidc-provider 8 answers invalid_request here (Keycloak: unauthorized_client); either way, no token.
    expect(web).toMatchObject({
      status: 400,
      body: { error: "invalid_request", error_description: "requested grant type is not allowed for this client" },
    });
  });

  it("refreshes a natter-cli token, rotating the refresh token", async () => {
    const first = await server.passwordGrant("bob", "bob123");
    const refresh = first.body["refresh_token"] as string;
    const again = await tokenRequest({ grant_type: "refresh_token", client_id: "natter-cli", refresh_token: refresh });
    expect(again.status).toBe(200);
    expect(again.body["refresh_token"]).not.toBe(refresh);
    await expect(verifier.verify(again.body["access_token"] as string)).resolves.toMatchObject({
      username: "bob",
      realmRole: "user",
      azp: "natter-cli",
    });
    expect(decodeJwt(again.body["access_token"] as string)).toMatchObject({
      typ: "Bearer",
      aud: "natter",
      realm_access: { roles: ["user"] },
    });
    const reused = await tokenRequest({ grant_type: "refresh_token", client_id: "natter-cli", refresh_token: refresh });
    expect(reused).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });

  describe("authorization code flow with PKCE, driven like a browser", () => {
    const redirectUri = () => `${server.origin}/callback`;
    const pkce = () => {
      const verifier = b64url(randomBytes(32));
      return { verifier, challenge: b64url(createHash("sha256").update(verifier).digest()) };
    };
    const authorizeUrl = (params: Record<string, string>) => {
      const u = new URL(String(discovery["authorization_endpoint"]));
      const all = {
        client_id: "natter-web",
        response_type: "code",
        redirect_uri: redirectUri(),
        scope: "openid profile",
        state: b64url(randomBytes(8)),
        ...params,
      };
      for (const [k, v] of Object.entries(all)) u.searchParams.set(k, v);
      return { url: u.href, state: all.state };
    };

    it("logs in at the login page, returns a code, exchanges it with the verifier, then refreshes", async () => {
      const browser = new Browser();
      const { verifier: codeVerifier, challenge } = pkce();
      const { url, state } = authorizeUrl({ code_challenge: challenge, code_challenge_method: "S256" });

      const login = await browser.follow(url, redirectUri());
      expect(login.res.status).toBe(200);
      expect(login.url).toMatch(new RegExp(`^${server.issuer}/interaction/[A-Za-z0-9_-]+$`));
      const page = await login.res.text();
      expect(page).toContain("Development identity provider");
      const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1];
      expect(action).toBe(`${new URL(login.url).pathname}/login`);

      // A wrong password shows the form again with an error.
      const wrong = await browser.request(new URL(action!, login.url).href, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: "alice", password: "nope" }),
      });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain("Invalid username or password.");

      const done = await browser.follow(new URL(action!, login.url).href, redirectUri(), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: "alice", password: "alice123" }),
      });
      const callback = new URL(done.url);
      expect(callback.origin + callback.pathname).toBe(redirectUri());
      expect(callback.searchParams.get("state")).toBe(state);
      expect(callback.searchParams.get("iss")).toBe(server.issuer);
      const code = callback.searchParams.get("code");
      expect(code).toEqual(expect.any(String));

      const exchanged = await tokenRequest({
        grant_type: "authorization_code",
        client_id: "natter-web",
        code: code!,
        redirect_uri: redirectUri(),
        code_verifier: codeVerifier,
      });
      expect(exchanged.status).toBe(200);
      expect(exchanged.body).toMatchObject({
        token_type: "Bearer",
        refresh_token: expect.any(String),
        id_token: expect.any(String),
      });
      const access = exchanged.body["access_token"] as string;
      await expect(verifier.verify(access)).resolves.toMatchObject({
        username: "alice",
        realmRole: "admin",
        azp: "natter-web",
      });
      expect(decodeJwt(access)).toMatchObject({
        aud: "natter",
        azp: "natter-web",
        typ: "Bearer",
        scope: "openid profile",
        realm_access: { roles: ["admin", "user"] },
      });

      const refreshed = await tokenRequest({
        grant_type: "refresh_token",
        client_id: "natter-web",
        refresh_token: exchanged.body["refresh_token"] as string,
      });
      expect(refreshed.status).toBe(200);
      await expect(verifier.verify(refreshed.body["access_token"] as string)).resolves.toMatchObject({
        username: "alice",
        azp: "natter-web",
      });

      // The code is single-use: a replay is refused and revokes what the code gave.
      const replay = await tokenRequest({
        grant_type: "authorization_code",
        client_id: "natter-web",
        code: code!,
        redirect_uri: redirectUri(),
        code_verifier: codeVerifier,
      });
      expect(replay).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
      const afterReplay = await tokenRequest({
        grant_type: "refresh_token",
        client_id: "natter-web",
        refresh_token: refreshed.body["refresh_token"] as string,
      });
      expect(afterReplay).toMatchObject({ status: 400, body: { error: "invalid_grant" } });

      // The login session stays: a second authorization goes straight back with a code.
      const second = pkce();
      const sso = await browser.follow(
        authorizeUrl({ code_challenge: second.challenge, code_challenge_method: "S256" }).url,
        redirectUri(),
      );
      const code2 = new URL(sso.url).searchParams.get("code");
      expect(code2).toEqual(expect.any(String));
      const exchanged2 = await tokenRequest({
        grant_type: "authorization_code",
        client_id: "natter-web",
        code: code2!,
        redirect_uri: redirectUri(),
        code_verifier: second.verifier,
      });
      expect(exchanged2.status).toBe(200);
    });

    it("requires PKCE with S256, and the right code_verifier", async () => {
      const noPkce = await new Browser().follow(authorizeUrl({}).url, redirectUri());
      expect(new URL(noPkce.url).searchParams.get("error")).toBe("invalid_request");
      const plain = await new Browser().follow(
        authorizeUrl({ code_challenge: "a".repeat(43), code_challenge_method: "plain" }).url,
        redirectUri(),
      );
      expect(new URL(plain.url).searchParams.get("error")).toBe("invalid_request");

      const browser = new Browser();
      const { challenge } = pkce();
      const login = await browser.follow(
        authorizeUrl({ code_challenge: challenge, code_challenge_method: "S256" }).url,
        redirectUri(),
      );
      const action = /<form method="post" action="([^"]+)"/.exec(await login.res.text())?.[1];
      const done = await browser.follow(new URL(action!, login.url).href, redirectUri(), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ username: "bob", password: "bob123" }),
      });
      const code = new URL(done.url).searchParams.get("code");
      const wrongVerifier = await tokenRequest({
        grant_type: "authorization_code",
        client_id: "natter-web",
        code: code!,
        redirect_uri: redirectUri(),
        code_verifier: pkce().verifier,
      });
      expect(wrongVerifier).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    });

    it("sends the user back with access_denied when they cancel at the login page", async () => {
      const browser = new Browser();
      const { url, state } = authorizeUrl({ code_challenge: pkce().challenge, code_challenge_method: "S256" });
      const login = await browser.follow(url, redirectUri());
      const forms = [...(await login.res.text()).matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]);
      expect(forms[1]).toMatch(/\/abort$/);
      const back = await browser.follow(new URL(forms[1]!, login.url).href, redirectUri(), { method: "POST" });
      expect(new URL(back.url).searchParams.get("error")).toBe("access_denied");
      expect(new URL(back.url).searchParams.get("state")).toBe(state);
    });

    it("refuses a redirect URI it does not know, without redirecting there", async () => {
      const { challenge } = pkce();
      const res = await new Browser().request(
        authorizeUrl({
          code_challenge: challenge,
          code_challenge_method: "S256",
          redirect_uri: "https://evil.example/cb",
        }).url,
      );
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
    });
  });

  it("rotates keys: the new key signs, the previous stays published, a second rotation drops the oldest", async () => {
    const jwks = async () =>
      ((await (await fetch(String(discovery["jwks_uri"]))).json()) as { keys: { kid: string }[] }).keys.map(
        (k) => k.kid,
      );
    const [k1] = await jwks();
    await server.idp.rotateKeys();
    const afterOne = await jwks();
    expect(afterOne).toHaveLength(2);
    expect(afterOne[1]).toBe(k1);
    const k2 = afterOne[0];
    expect(decodeProtectedHeader(await server.accessToken("bob", "bob123")).kid).toBe(k2);
    await server.idp.rotateKeys();
    const afterTwo = await jwks();
    expect(afterTwo).toHaveLength(2);
    expect(afterTwo[1]).toBe(k2);
    expect(afterTwo).not.toContain(k1);
    expect(decodeProtectedHeader(await server.accessToken("bob", "bob123")).kid).toBe(afterTwo[0]);
    const file = JSON.parse(await readFile(join(dir, "idp", "jwks.json"), "utf8")) as { keys: { kid: string }[] };
    expect(file.keys.map((k) => k.kid)).toEqual(afterTwo);
  });
});

describe("development identity provider across restarts and with a users file", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "natter-idp-restart-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps its signing and cookie keys in the data dir, private, and reuses them on restart", async () => {
    const first = await startDevIdpServer({ dataDir: dir });
    const token = await first.accessToken("alice", "alice123");
    const kid = decodeProtectedHeader(token).kid;
    await first.close();

    for (const f of ["jwks.json", "cookie-keys.json"])
      expect((await stat(join(dir, "idp", f))).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(join(dir, "idp", "jwks.json"), "utf8")) as {
      keys: { kid: string; d?: string }[];
    };
    expect(stored.keys.map((k) => k.kid)).toEqual([kid]);
    expect(stored.keys[0]?.d).toEqual(expect.any(String));
    const cookieKeys = await readFile(join(dir, "idp", "cookie-keys.json"), "utf8");

    const second = await startDevIdpServer({ dataDir: dir });
    try {
      const again = await second.accessToken("alice", "alice123");
      expect(decodeProtectedHeader(again).kid).toBe(kid);
      expect(decodeJwt(again).sub).toBe(decodeJwt(token).sub);
      expect(await readFile(join(dir, "idp", "cookie-keys.json"), "utf8")).toBe(cookieKeys);
      await expect(
        createTokenVerifier({ issuer: second.issuer, audience: "natter" }).verify(again),
      ).resolves.toMatchObject({ username: "alice" });
    } finally {
      await second.close();
    }
  });

  it("logs in users from a JSON file besides the built-in ones, and refuses a bad file with a reason", async () => {
    const usersFile = join(dir, "users.json");
    await writeFile(
      usersFile,
      JSON.stringify([
        { username: "load-1", password: "pw-1", roles: ["user"] },
        { username: "load-2", password: "pw-2", roles: [] },
      ]),
    );
    const server = await startDevIdpServer({ dataDir: dir, usersFile });
    try {
      const verifier = createTokenVerifier({ issuer: server.issuer, audience: "natter" });
      await expect(verifier.verify(await server.accessToken("load-1", "pw-1"))).resolves.toMatchObject({
        username: "load-1",
        realmRole: "user",
        userId: subjectFor("load-1"),
      });
      await expect(verifier.verify(await server.accessToken("load-2", "pw-2"))).resolves.toMatchObject({
        username: "load-2",
        realmRole: "none",
      });
      await expect(verifier.verify(await server.accessToken("bob", "bob123"))).resolves.toMatchObject({
        realmRole: "user",
      });
      expect(await server.passwordGrant("load-1", "pw-2")).toMatchObject({
        status: 400,
        body: { error: "invalid_grant" },
      });
    } finally {
      await server.close();
    }
    await writeFile(usersFile, JSON.stringify([{ username: "x", roles: ["user"] }]));
    await expect(
      startDevIdp({
        dataDir: dir,
        issuer: "http://127.0.0.1:1/realms/natter",
        usersFile,
        log: pino({ level: "silent" }),
      }),
    ).rejects.toThrow(/users file .* is invalid at 0\.password/);
    await writeFile(usersFile, JSON.stringify([{ username: "alice", password: "again", roles: [] }]));
    await expect(
      startDevIdp({
        dataDir: dir,
        issuer: "http://127.0.0.1:1/realms/natter",
        usersFile,
        log: pino({ level: "silent" }),
      }),
    ).rejects.toThrow(/alice is defined twice/);
  });
});

describe("development identity provider: wrong passwords", () => {
  const servers: DevIdpServer[] = [];
  const dirs: string[] = [];
  const start = async (failedLogins?: Parameters<typeof startDevIdpServer>[0]["failedLogins"]) => {
    const dir = await mkdtemp(join(tmpdir(), "natter-idp-limits-"));
    dirs.push(dir);
    const server = await startDevIdpServer({ dataDir: dir, ...(failedLogins ? { failedLogins } : {}) });
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("after 30 wrong passwords for a user in a minute, the 31st attempt is refused without checking it (even the right password); other users go on", async () => {
    const server = await start();
    for (let i = 0; i < 30; i++)
      expect(await server.passwordGrant("alice", `guess-${i}`)).toMatchObject({
        status: 400,
        body: { error: "invalid_grant", error_description: "grant request is invalid" },
      });
    const refused = await server.passwordGrant("alice", "alice123");
    expect(refused).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(String(refused.body["error_description"])).toMatch(/too many wrong passwords .* try again in \d+ s/);
    // The name is the key, whatever its case.
    expect(String((await server.passwordGrant("ALICE", "x")).body["error_description"])).toMatch(
      /too many wrong passwords/,
    );
    expect((await server.passwordGrant("bob", "bob123")).status).toBe(200);
  });

  it("an address that used up its failures is refused for every user, unchecked; a right password spends nothing", async () => {
    const server = await start({ perAddress: { burst: 5, perSecond: 0.01 } });
    for (let i = 0; i < 20; i++) expect((await server.passwordGrant("bob", "bob123")).status).toBe(200);
    for (const user of ["u1", "u2", "u3", "u4", "u5"])
      expect((await server.passwordGrant(user, "nope")).body["error_description"]).toBe("grant request is invalid");
    const refused = await server.passwordGrant("charlie", "charlie123");
    expect(String(refused.body["error_description"])).toMatch(/too many wrong passwords/);
  });
});

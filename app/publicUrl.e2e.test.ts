import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { userIdFromSub } from "../domain/index.ts";
import { childEnv, freePort, spawnTsx, type TsxChild } from "../test/childProcess.ts";

/**
 * Opens a WebSocket handshake to `port` from `origin` and answers the status: 101 when the
 * server takes it, 403 when it refuses the origin.
 */
function wsHandshake(port: number, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      path: "/",
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        origin,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** An authorization request of the web client with `redirectUri`, answered without following it. */
async function authorize(port: number, redirectUri: string): Promise<Response> {
  const url = new URL(`http://127.0.0.1:${port}/realms/natter/protocol/openid-connect/auth`);
  const params = {
    client_id: "natter-web",
    response_type: "code",
    scope: "openid profile",
    redirect_uri: redirectUri,
    state: "s",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return fetch(url, { redirect: "manual" });
}

describe("NATTER_PUBLIC_URL: one setting for the address browsers use", () => {
  let dataDir: string;
  let natter: TsxChild;
  let port: number;
  let natsPort: number;
  let wsPort: number;
  let publicUrl: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "natter-public-"));
    [port, natsPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    // A name no resolver knows: natter must never need to reach its own public URL.
    publicUrl = `http://natter.invalid:${port}`;
    natter = spawnTsx(
      "app/main.ts",
      [],
      childEnv({
        NATTER_DATA_DIR: dataDir,
        NATTER_NATS_SERVER: inject("natsServerBinary"),
        PORT: String(port),
        NATTER_NATS_PORT: String(natsPort),
        NATTER_NATS_WS_PORT: String(wsPort),
        NATTER_NATS_MONITOR_PORT: String(await freePort()),
        NATTER_PUBLIC_URL: `${publicUrl}/`,
        LOG_LEVEL: "warn",
      }),
    );
    await natter.waitForLine((l) => l === "natter is up", 60_000);
    await natter.waitForLine((l) => l.startsWith("  data "));
  }, 90_000);

  afterAll(async () => {
    await natter?.stop("SIGTERM");
    await rm(dataDir, { recursive: true, force: true });
  });

  test("npm start prints the public addresses", () => {
    expect(natter.lines).toContain(`  web            ${publicUrl}/`);
    expect(natter.lines).toContain(`  NATS WebSocket ws://natter.invalid:${wsPort}`);
    expect(natter.lines.some((l) => l.startsWith(`  issuer         ${publicUrl}/realms/natter `))).toBe(true);
  });

  test("the web client is told the public issuer and NATS WebSocket, and its page's policy allows them", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/config.json`);
    expect(await res.json()).toMatchObject({
      issuer: `${publicUrl}/realms/natter`,
      natsWsUrl: `ws://natter.invalid:${wsPort}`,
    });
    const page = await fetch(`http://127.0.0.1:${port}/`);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain(`connect-src 'self' ${publicUrl} ws://natter.invalid:${wsPort}`);
    expect(csp).toContain(`form-action 'self' ${publicUrl}`);
  });

  test("a token of the public issuer signs in to NATS: its keys are fetched from natter itself", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/realms/natter/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "password",
        client_id: "natter-cli",
        username: "bob",
        password: "bob123",
      }),
    });
    const token = ((await res.json()) as { access_token: string }).access_token;
    expect(decodeJwt(token).iss).toBe(`${publicUrl}/realms/natter`);
    const nc = await connect({
      servers: `nats://127.0.0.1:${natsPort}`,
      token,
      inboxPrefix: `_INBOX.${userIdFromSub(decodeJwt(token).sub!)}`,
      maxReconnectAttempts: 0,
    });
    await nc.flush();
    await nc.close();
  });

  test("the public origin and every loopback one may redirect and open the NATS WebSocket; no other origin may", async () => {
    for (const origin of [publicUrl, `http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`]) {
      const ok = await authorize(port, `${origin}/callback`);
      expect(ok.status, origin).toBe(303);
      expect(ok.headers.get("location"), origin).toMatch(/\/realms\/natter\/interaction\//);
      expect(await wsHandshake(wsPort, origin), origin).toBe(101);
    }
    for (const origin of [
      "http://evil.example",
      `http://natter.invalid:${port + 1}`,
      `https://natter.invalid:${port}`,
    ]) {
      const refused = await authorize(port, `${origin}/callback`);
      expect(refused.status, origin).toBe(400);
      expect(refused.headers.get("location"), origin).toBeNull();
      expect(await wsHandshake(wsPort, origin), origin).toBe(403);
    }
  });
});

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier } from "../auth/index.ts";
import { MAX_QUERY_BYTES, MAX_URL_LENGTH, startReadApi } from "./index.ts";
import { startReadHarness, type ReadHarness } from "../test/readHarness.ts";

let h: ReadHarness;
let roomId: string;

beforeAll(async () => {
  // Five queries per user, refilled slowly enough that the test never sees a refill.
  h = await startReadHarness({ queryRateLimit: { burst: 5, perSecond: 0.01 } });
  roomId = (await h.users.alice.cmd("room.create", { name: "limits", kind: "public" })).result["roomId"] as string;
  await h.caughtUp();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe("request limits, each with a clear error", () => {
  it("a body over the limit is 413, a request target over the limit 414", async () => {
    const { charlie } = h.users;
    const big = await charlie.post(`/api/rooms/${roomId}/read`, { seq: 1, pad: "x".repeat(MAX_QUERY_BYTES) });
    expect(big.status).toBe(413);
    expect(big.body.error.message).toContain(`${MAX_QUERY_BYTES} bytes`);
    const long = await charlie.get(`/api/rooms/${roomId}/messages?pad=${"y".repeat(MAX_URL_LENGTH)}`);
    expect(long.status).toBe(414);
  });

  it("malformed requests: no token, a bad token, bad JSON, a wrong content type, an unknown path, a wrong method", async () => {
    const { charlie } = h.users;
    const none = await h.fetchApi(`/api/rooms`);
    expect(none.status).toBe(401);
    expect(none.body.error.message).toContain("Bearer");
    const forged = await h.fetchApi(`/api/rooms`, {
      headers: { authorization: `Bearer ${charlie.token.slice(0, -4)}AAAA` },
    });
    expect(forged.status).toBe(401);
    const auth = { authorization: `Bearer ${charlie.token}` };
    const badJson = await h.fetchApi(`/api/rooms/${roomId}/read`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: "{seq:",
    });
    expect(badJson).toMatchObject({
      status: 400,
      body: { error: { code: "invalid", message: "the body is not JSON" } },
    });
    const form = await h.fetchApi(`/api/rooms/${roomId}/read`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: "seq=1",
    });
    expect(form.status).toBe(400);
    expect((await h.fetchApi(`/api/nothing/here`, { headers: auth })).status).toBe(404);
    expect((await h.fetchApi(`/api/rooms`, { method: "DELETE", headers: auth })).status).toBe(405);
  });

  it("a NATS query over the size limit or not an object is refused", async () => {
    const { dave } = h.users;
    const big = await dave.nc.request(`q.${dave.id}.rooms`, JSON.stringify({ pad: "z".repeat(MAX_QUERY_BYTES) }), {
      timeout: 5000,
    });
    expect(big.json()).toMatchObject({ ok: false, error: { code: "invalid" } });
    const list = await dave.nc.request(`q.${dave.id}.rooms`, "[1,2]", { timeout: 5000 });
    expect(list.json()).toMatchObject({
      ok: false,
      error: { code: "invalid", message: "the query body must be a JSON object" },
    });
  });

  it("queries are limited per user, over HTTP and NATS together, with the time to wait", async () => {
    const { bob, alice } = h.users;
    for (let i = 0; i < 3; i++) expect((await bob.get(`/api/rooms`)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await bob.q("rooms")).ok).toBe(true);
    const over = await bob.get(`/api/rooms`);
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("rate_limited");
    expect(over.body.error.details.retryAfterMs).toBeGreaterThan(0);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await bob.q("rooms")).toMatchObject({ ok: false, error: { code: "rate_limited" } });
    // Another user is not held back by bob.
    expect((await alice.get(`/api/rooms`)).status).toBe(200);
  });

  it("HTTP is limited per address", async () => {
    const log = pino({ level: "silent" });
    const gateway = await h.sys.service("gateway");
    const api = await startReadApi(gateway, h.database.db, h.store, {
      log,
      verifier: createTokenVerifier({ issuer: h.issuer.issuer, audience: "natter" }),
      queryRateLimit: "off",
      httpRateLimit: { burst: 3, perSecond: 0.01 },
    });
    const server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const statuses: number[] = [];
      // Requests without a token count too: the address pays before anything else is checked.
      // X-Forwarded-For from a socket that is not a trusted proxy changes nothing.
      for (const [i, token] of [h.users.dave.token, undefined, h.users.alice.token, h.users.alice.token].entries()) {
        const res = await fetch(`${base}/api/rooms/public`, {
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "x-forwarded-for": `198.51.100.${i}` },
        });
        statuses.push(res.status);
        if (res.status === 429)
          expect(((await res.json()) as { error: { message: string } }).error.message).toContain("address");
      }
      expect(statuses).toEqual([200, 401, 200, 429]);
    } finally {
      server.closeAllConnections();
      server.close();
      await api.drain();
    }
  });

  it("behind a trusted proxy, HTTP is limited per client that the proxy names", async () => {
    const gateway = await h.sys.service("gateway");
    const api = await startReadApi(gateway, h.database.db, h.store, {
      log: pino({ level: "silent" }),
      verifier: createTokenVerifier({ issuer: h.issuer.issuer, audience: "natter" }),
      queryRateLimit: "off",
      httpRateLimit: { burst: 2, perSecond: 0.01 },
      trustedProxies: ["127.0.0.1"],
    });
    const server = createServer((req, res) => void api.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ask = async (forwardedFor: string) =>
      (
        await fetch(`${base}/api/rooms/public`, {
          headers: { authorization: `Bearer ${h.users.dave.token}`, "x-forwarded-for": forwardedFor },
        })
      ).status;
    try {
      expect([await ask("203.0.113.1"), await ask("203.0.113.1"), await ask("203.0.113.1")]).toEqual([200, 200, 429]);
      // Another client behind the same proxy has its own bucket, whatever the first one writes on the left.
      expect([await ask("203.0.113.2"), await ask("9.9.9.9, 203.0.113.1")]).toEqual([200, 429]);
    } finally {
      server.closeAllConnections();
      server.close();
      await api.drain();
    }
  });
});

describe("reply subjects: an answer goes only to an inbox", () => {
  it("a query or a command whose reply subject is not an inbox is not run, and nothing is written there", async () => {
    const { charlie, dave } = h.users;
    // charlie watches the public room's live subject, which the gateway may publish on.
    const seen: string[] = [];
    const sub = charlie.nc.subscribe(`live.room.${roomId}`, { callback: (_err, m) => void seen.push(m.string()) });
    await charlie.nc.flush();
    const roomEvents = async () => (await h.store.readSubject(`ev.room.${roomId}`)).length;
    const before = await roomEvents();
    // dave names the live subject and the room's event subject as where the answers should go.
    dave.nc.publish(`q.${dave.id}.rooms`, "{}", { reply: `live.room.${roomId}` });
    dave.nc.publish(`cmd.${dave.id}.user.profile`, JSON.stringify({ commandId: ulid(), displayName: "Mallory" }), {
      reply: `ev.room.${roomId}`,
    });
    dave.nc.publish(`cmd.${dave.id}.room.join`, JSON.stringify({ commandId: ulid(), roomId }), {
      reply: `$KV.snapshots.room.${roomId}`,
    });
    await dave.nc.flush();
    // The same, asked properly, is answered: the service took the bad ones before these.
    expect((await dave.q("rooms")).ok).toBe(true);
    expect((await dave.try("user.profile", { displayName: "Dave" })).ok).toBe(true);
    await h.caughtUp();
    expect(await roomEvents()).toBe(before);
    // A post reaches the watcher: the first thing it saw is that event, not an answer to dave.
    const { seq } = await h.users.alice.cmd("msg.post", { roomId, body: "the real one" });
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.length).toBeGreaterThan(0);
    expect(JSON.parse(seen[0]!)).toMatchObject({ seq });
    sub.unsubscribe();
  });
});

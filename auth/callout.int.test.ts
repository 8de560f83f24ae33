import { connect as connectTcp } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { userIdFromSub } from "../domain/index.ts";
import { EventStore } from "../streams/index.ts";
import { startAuthSystem, type AuthSystem } from "../test/authHarness.ts";
import { startTestIssuer, type TestIssuer } from "../test/tokenIssuer.ts";
import { createTokenVerifier } from "./tokenVerifier.ts";

let issuer: TestIssuer;
let sys: AuthSystem;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  issuer = await startTestIssuer();
  const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: "natter" });
  const log = pino(
    { level: "info" },
    { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  sys = await startAuthSystem({ verify: (t) => verifier.verify(t), log });
});
afterAll(async () => {
  await sys.stop();
  await issuer.close();
});

const idOf = (username: string) => userIdFromSub(issuer.subOf(username));

/** Collects the connection's asynchronous permission errors. */
function watchErrors(nc: NatsConnection): string[] {
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error") errors.push(String((s as { error?: Error }).error?.message ?? ""));
    }
  })();
  return errors;
}

async function request(
  nc: NatsConnection,
  subject: string,
  body: object,
): Promise<{ ok: boolean; error?: { code: string } }> {
  return (await nc.request(subject, JSON.stringify({ commandId: ulid(), ...body }), { timeout: 5000 })).json();
}

describe("the whole path", () => {
  test("a token's user connects, sends a command as that user, and the event names them", async () => {
    const alice = idOf("alice");
    const nc = await sys.user(await issuer.token("alice", ["admin", "user"]), alice);
    const r = await request(nc, `cmd.${alice}.room.create`, { name: "via token", kind: "public" });
    expect(r.ok).toBe(true);
    const svc = await sys.service("replay");
    const events = await new EventStore(svc).readSubject("ev.room.>");
    expect(events.at(-1)).toMatchObject({ type: "RoomCreated", actor: alice });
  });

  test("the replay CLI's account announces a rebuild's swap to the read API (which then drops its cache)", async () => {
    const gateway = await sys.service("gateway");
    const heard: string[] = [];
    gateway.subscribe("natter.projection.*.applied", { callback: (_err, m) => void heard.push(m.string()) });
    await gateway.flush();
    const replay = await sys.service("replay");
    replay.publish("natter.projection.timeline.applied", JSON.stringify({ seq: 7, from: 7, rooms: null }));
    await replay.flush();
    for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(heard.map((h) => JSON.parse(h))).toEqual([{ seq: 7, from: 7, rooms: null }]);
  });

  test("the same over WebSocket, as a browser connects", async () => {
    const bob = idOf("bob");
    const nc = await sys.user(await issuer.token("bob", ["user"]), bob, { ws: true });
    const r = await request(nc, `cmd.${bob}.user.profile`, { displayName: "Bob" });
    expect(r.ok).toBe(true);
  });
});

type Action = { what: string; run: (nc: NatsConnection) => void | Promise<void> };
const pub = (subject: string, data = "{}"): Action => ({
  what: `publish ${subject}`,
  run: (nc) => nc.publish(subject, data),
});
const sub = (subject: string): Action => ({ what: `subscribe ${subject}`, run: (nc) => void nc.subscribe(subject) });

function forbiddenFor(role: "admin" | "user" | "none", self: string, other: string): Action[] {
  const common: Action[] = [
    pub(`cmd.${other}.room.create`, JSON.stringify({ commandId: ulid(), name: "spoof", kind: "public" })),
    pub(`cmd.${other}.msg.post`),
    pub(`cmd.${other}.user.profile`),
    pub(`admincmd.${other}.room.remove`),
    pub(`q.${other}.rooms`),
    pub("ev.room.r1", JSON.stringify({ roomId: "r1", userId: self })),
    pub("ev.msg.r1.m1"),
    pub("$JS.API.INFO"),
    pub("$JS.API.STREAM.LIST"),
    pub("$JS.API.STREAM.PURGE.CHAT_EVENTS"),
    pub("$JS.API.STREAM.DELETE.CHAT_EVENTS"),
    pub("$JS.API.CONSUMER.CREATE.CHAT_EVENTS"),
    pub("$JS.API.CONSUMER.DURABLE.CREATE.CHAT_EVENTS.spy"),
    pub("$JS.API.DIRECT.GET.CHAT_EVENTS"),
    pub("$KV.members.r1.x"),
    pub("$KV.commands.x"),
    pub("$SYS.REQ.SERVER.PING"),
    pub("$SYS.REQ.USER.AUTH"),
    pub("live.room.r1"),
    pub(`deliver.${self}.x`),
    pub(`deliver.${other}.x`),
    pub(`_INBOX.${other}.x`),
    pub("natter.projection.timeline.applied"),
    pub(`presence.${other}`),
    sub(">"),
    sub("_INBOX.>"),
    sub(`_INBOX.${other}.>`),
    sub(`deliver.${other}.>`),
    sub("deliver.>"),
    sub("ev.>"),
    sub("$JS.API.>"),
    sub("$KV.>"),
    sub("$SYS.>"),
    sub("cmd.>"),
    sub(`cmd.${self}.>`),
    sub("q.>"),
    sub("live.>"),
    sub("natter.>"),
  ];
  if (role === "admin") return common;
  const more = [pub(`admincmd.${self}.room.remove`), pub(`admincmd.${self}.msg.delete`)];
  if (role === "user") return [...common, ...more];
  return [
    ...common,
    ...more,
    pub(`cmd.${self}.room.create`),
    pub(`cmd.${self}.msg.post`),
    pub(`cmd.${self}.room.join`),
    pub(`typing.${self}.r1`),
  ];
}

describe("the permission matrix", () => {
  for (const [username, roles, role] of [
    ["alice", ["admin", "user"], "admin"],
    ["bob", ["user"], "user"],
    ["charlie", [], "none"],
  ] as const) {
    test(`${role}: every forbidden action is refused, the allowed ones work, and nothing leaks`, async () => {
      const self = idOf(username);
      const other = idOf("victim");
      const before = (await new EventStore(await sys.service("replay")).readSubject("ev.>")).length;
      // Canaries: the gateway account sees live and personal deliveries; the victim its own subjects.
      const canary = await sys.service("gateway");
      const leaked: string[] = [];
      for (const s of ["live.>", "deliver.>"])
        canary.subscribe(s, { callback: (_e, m) => void leaked.push(m.subject) });
      await canary.flush();
      const actions = forbiddenFor(role, self, other);
      expect(actions.length).toBeGreaterThanOrEqual(30);
      const refused: string[] = [];
      for (const action of actions) {
        const nc = await sys.user(await issuer.token(username, [...roles]), self);
        const errors = watchErrors(nc);
        await action.run(nc);
        await nc.flush();
        // The server's -ERR comes before the flush's PONG; the status iterator hands it over a tick later.
        const deadline = Date.now() + 1000;
        while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        if (errors.some((e) => /permissions violation/i.test(e))) refused.push(action.what);
        await nc.close();
      }
      expect(actions.map((a) => a.what).filter((w) => !refused.includes(w))).toEqual([]);

      // What the role may do, works.
      const nc = await sys.user(await issuer.token(username, [...roles]), self);
      const errors = watchErrors(nc);
      const profile = await request(nc, `cmd.${self}.user.profile`, { displayName: username });
      expect(profile.ok).toBe(true);
      nc.subscribe(`deliver.${self}.>`);
      const live = nc.subscribe("live.room.*", { max: 1, timeout: 5000 });
      await nc.flush();
      canary.publish("live.room.lobby", "hello");
      for await (const m of live) expect(m.subject).toBe("live.room.lobby");
      if (role !== "none") {
        const created = await request(nc, `cmd.${self}.room.create`, { name: `${username}'s`, kind: "public" });
        expect(created.ok).toBe(true);
      }
      if (role === "admin") {
        const r = await request(nc, `admincmd.${self}.user.profile`, { language: "en" });
        expect(r.ok).toBe(true);
      }
      expect(errors).toEqual([]);
      await nc.close();

      const events = await new EventStore(await sys.service("replay")).readSubject("ev.>");
      expect(events.filter((e) => e.actor === other)).toEqual([]);
      expect(events.slice(before).every((e) => e.actor === self)).toBe(true);
      expect(leaked).toEqual(["live.room.lobby"]);
    });
  }

  test("an oversized payload is refused by the server (a raw client that skips the client-side check)", async () => {
    const self = idOf("bob");
    const token = await issuer.token("bob", ["user"]);
    const url = new URL(sys.server.url);
    const socket = connectTcp({ host: url.hostname, port: Number(url.port) });
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (received += d));
    // The server may reset the connection right after its -ERR: that is the refusal, not a failure.
    socket.on("error", () => undefined);
    const closed = new Promise<void>((r) => socket.on("close", () => r()));
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write(
      `CONNECT ${JSON.stringify({ auth_token: token, verbose: false, pedantic: false, protocol: 1, lang: "raw", version: "0" })}\r\nPING\r\n`,
    );
    const deadline = Date.now() + 5000;
    while (!received.includes("PONG") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(received).toContain("PONG");
    const size = 64 * 1024 + 1;
    socket.write(`PUB cmd.${self}.msg.post ${size}\r\n${"x".repeat(size)}\r\n`);
    await closed;
    expect(received).toMatch(/Maximum Payload/i);
  });
});

describe("expiry", () => {
  test("a connection is closed when its token expires; a fresh token connects again", async () => {
    const self = idOf("bob");
    const nc = await sys.user(await issuer.token("bob", ["user"], {}, { expiresInSec: 2 }), self);
    const errors = watchErrors(nc);
    await nc.closed();
    expect(errors.join(" ")).toMatch(/User Authentication Expired/i);
    const again = await sys.user(await issuer.token("bob", ["user"]), self);
    expect((await request(again, `cmd.${self}.user.profile`, { displayName: "Bob again" })).ok).toBe(true);
  });

  test("an expired token is refused at connect, with the reason in the log and not the token", async () => {
    const token = await issuer.token("bob", ["user"], { exp: Math.floor(Date.now() / 1000) - 120 });
    await expect(sys.user(token, idOf("bob"))).rejects.toThrow(/Authorization Violation/);
    const line = logLines.filter((l) => l["msg"] === "auth refused").at(-1);
    expect(line?.["outcome"]).toBe("expired");
    expect(JSON.stringify(logLines)).not.toContain(token);
  });
});

import { headers } from "@nats-io/transport-node";
import { pino } from "pino";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { DomainEvent } from "../domain/index.ts";
import {
  AggregateRepository,
  childTrace,
  CommandIndex,
  connectNats,
  encodeEvent,
  EventStore,
  H,
  traceIdOf,
} from "../streams/index.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { startCommandHarness, type CommandHarness } from "../test/commandHarness.ts";
import { roomSpec } from "./aggregateSpecs.ts";
import { CommandHandler } from "./handler.ts";
import { startCommandService } from "./service.ts";
import { parseCommandSubject } from "./subject.ts";

let h: CommandHarness;
beforeAll(async () => {
  h = await startCommandHarness();
});
afterAll(async () => {
  await h.stop();
});

async function publicRoom(owner = "owner"): Promise<string> {
  return (await mustSend(h.nc, owner, "room.create", { name: `room ${ulid()}`, kind: "public" })).result[
    "roomId"
  ] as string;
}

describe("concurrency", () => {
  test("50 concurrent joins of one room from 50 users: 50 MemberJoined, none twice", async () => {
    const roomId = await publicRoom();
    const users = Array.from({ length: 50 }, (_, i) => `joiner${i}`);
    const replies = await Promise.all(users.map((u) => sendCommand(h.nc, u, "room.join", { roomId })));
    expect(replies.every((r) => r.ok)).toBe(true);
    const events = await h.store.readSubject(`ev.room.${roomId}`);
    const joins = events
      .filter((e) => e.type === "MemberJoined")
      .map((e) => (e.event.data as { userId: string }).userId);
    expect(joins.sort()).toEqual([...users].sort());
    const room = await new AggregateRepository(h.store, undefined).load(`ev.room.${roomId}`, roomSpec);
    expect(room.state.members.size).toBe(51);
    expect(new Set(replies.map((r) => (r.ok ? r.seq : 0))).size).toBe(50);
  });

  test("two instances deciding on one aggregate at once: one append wins, the other retries and ends right", async () => {
    const roomId = await publicRoom();
    const a = new CommandHandler(
      h.store,
      new AggregateRepository(h.store, undefined),
      new CommandIndex(h.store.requests),
    );
    const b = new CommandHandler(
      h.store,
      new AggregateRepository(h.store, undefined),
      new CommandIndex(h.store.requests),
    );
    const join = (handler: CommandHandler, user: string) =>
      handler.handle({
        subject: parseCommandSubject(`cmd.${user}.room.join`),
        data: new TextEncoder().encode(JSON.stringify({ commandId: ulid(), roomId })),
        headers: undefined,
      });
    // Warm both caches at the same sequence, so both decide on the same state.
    await Promise.all([join(a, "warm-a"), join(b, "warm-a")]);
    const [ra, rb] = await Promise.all([join(a, "racer-a"), join(b, "racer-b")]);
    expect(ra.reply.ok && rb.reply.ok).toBe(true);
    expect(Math.max(ra.attempts, rb.attempts)).toBeGreaterThan(1);
    const members = (await new AggregateRepository(h.store, undefined).load(`ev.room.${roomId}`, roomSpec)).state
      .members;
    expect([...members.keys()].sort()).toEqual(["owner", "racer-a", "racer-b", "warm-a"]);
  });

  test("a refusal is never decided on a stale cache", async () => {
    const roomId = await publicRoom();
    const stale = new CommandHandler(
      h.store,
      new AggregateRepository(h.store, undefined),
      new CommandIndex(h.store.requests),
    );
    const send = (user: string, action: string, body: object) =>
      stale.handle({
        subject: parseCommandSubject(`cmd.${user}.${action}`),
        data: new TextEncoder().encode(JSON.stringify({ commandId: ulid(), ...body })),
        headers: undefined,
      });
    await send("owner", "room.topic", { roomId, topic: "warm the cache" });
    // bob joins through the other instance; the stale one has not seen it.
    await mustSend(h.nc, "bob", "room.join", { roomId });
    const left = await send("bob", "room.leave", { roomId });
    expect(left.reply.ok).toBe(true);
    const events = await h.store.readSubject(`ev.room.${roomId}`);
    expect(events.at(-1)?.type).toBe("MemberLeft");
  });
});

describe("idempotency", () => {
  test("one commandId sent three times (plain, after a restart, after the duplicate window): one event, three identical replies", async () => {
    // A server of its own with a 1 s duplicate window.
    const own = await startCommandHarness({ stream: { duplicateWindowMs: 1000 } });
    try {
      const roomId = (await mustSend(own.nc, "alice", "room.create", { name: "idem", kind: "public" })).result[
        "roomId"
      ] as string;
      const commandId = ulid();
      const body = { roomId, body: "exactly once" };
      const first = await sendCommand(own.nc, "alice", "msg.post", body, { commandId });
      // Another command whose id a post will reuse after the window (a client's bug): the post,
      // decided without reading its new message, must still find it in the command index.
      const joinId = ulid();
      const join = await sendCommand(own.nc, "bob", "room.join", { roomId }, { commandId: joinId });

      await own.service.drain();
      const nc2 = await connectNats(own.server.url);
      let service2 = await startCommandService(nc2, { log: pino({ level: "silent" }), rateLimit: "off" });
      const second = await sendCommand(nc2, "alice", "msg.post", body, { commandId });

      // Waiting for time to pass is the point here: the server forgets the message id after 1 s.
      await new Promise((r) => setTimeout(r, 1500));
      await service2.drain();
      service2 = await startCommandService(nc2, { log: pino({ level: "silent" }), rateLimit: "off" });
      const third = await sendCommand(nc2, "alice", "msg.post", body, { commandId });
      const reused = await sendCommand(nc2, "bob", "msg.post", { roomId, body: "not a join" }, { commandId: joinId });
      await service2.drain();
      await nc2.close();

      expect(first.ok).toBe(true);
      expect(second).toEqual(first);
      expect(third).toEqual(first);
      const carrying = (await own.allEvents()).filter((e) => e.commandId === commandId);
      expect(carrying).toHaveLength(1);
      expect(join.ok).toBe(true);
      expect(reused).toEqual(join);
      expect((await own.allEvents()).filter((e) => e.commandId === joinId)).toHaveLength(1);
      // The message id is derived from the command id, so all three name one message.
      expect(first.ok && first.result["messageId"]).toBe(commandId);
    } finally {
      await own.nc.close();
      await own.server.stop();
    }
  });

  test("a commandId reused for another aggregate answers the first command (the command index)", async () => {
    const r1 = await publicRoom();
    const r2 = await publicRoom();
    const commandId = ulid();
    const first = await sendCommand(h.nc, "dora", "room.join", { roomId: r1 }, { commandId });
    const again = await sendCommand(h.nc, "dora", "room.join", { roomId: r2 }, { commandId });
    expect(again).toEqual(first);
    expect((await h.allEvents()).filter((e) => e.commandId === commandId)).toHaveLength(1);
  });

  test("a command whose index write was lost (its instance killed first) is indexed when answered again, so a later reuse still finds it", async () => {
    const own = await startCommandHarness({ stream: { duplicateWindowMs: 1000 } });
    try {
      const roomId = (await mustSend(own.nc, "alice", "room.create", { name: "lost index", kind: "public" })).result[
        "roomId"
      ] as string;
      // bob's join is in the log, as an instance that died before its index write and reply left it.
      const joinId = ulid();
      const last = (await own.store.readSubject(`ev.room.${roomId}`)).at(-1)!.seq;
      const joinEvent = { type: "MemberJoined", data: { roomId, userId: "bob" } } as DomainEvent;
      await own.store.append(
        encodeEvent(joinEvent, {
          actor: "bob",
          commandId: joinId,
          correlationId: joinId,
          causationId: joinId,
          trace: childTrace(),
        }),
        last,
      );
      // bob's client retries and is answered from the log.
      const join = await sendCommand(own.nc, "bob", "room.join", { roomId }, { commandId: joinId });
      expect(join.ok).toBe(true);
      // Past the duplicate window, the same id on another aggregate: only the index can tell.
      await new Promise((r) => setTimeout(r, 1500));
      const reused = await sendCommand(
        own.nc,
        "bob",
        "msg.post",
        { roomId, body: "not a join" },
        { commandId: joinId },
      );
      expect(reused).toEqual(join);
      expect((await own.allEvents()).filter((e) => e.commandId === joinId)).toHaveLength(1);
    } finally {
      await own.nc.close();
      await own.server.stop();
    }
  });

  test("a post naming a message that exists is refused and appends nothing", async () => {
    const roomId = await publicRoom();
    await mustSend(h.nc, "gina", "room.join", { roomId });
    const messageId = ulid();
    const first = await mustSend(h.nc, "owner", "msg.post", { roomId, messageId, body: "first" });
    const again = await sendCommand(h.nc, "gina", "msg.post", { roomId, messageId, body: "taken" });
    expect(again.ok).toBe(false);
    const events = await h.store.readSubject(`ev.msg.${roomId}.${messageId}`);
    expect(events.map((e) => e.seq)).toEqual([first.seq]);
  });

  test("two users may use the same commandId independently", async () => {
    const roomId = await publicRoom();
    const commandId = ulid();
    const a = await sendCommand(h.nc, "erin", "room.join", { roomId }, { commandId });
    const b = await sendCommand(h.nc, "fred", "room.join", { roomId }, { commandId });
    expect(a.ok && b.ok && a.seq !== b.seq).toBe(true);
  });
});

describe("the reply contract", () => {
  test("field-level details for an invalid body, and nothing appended", async () => {
    const before = await h.eventCount();
    const r = await sendCommand(h.nc, "alice", "room.create", { name: "", kind: "nope", extra: 1 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("invalid");
    const paths = (r.error.details?.["fields"] as { path: string }[]).map((f) => f.path).sort();
    expect(paths).toEqual(["", "kind", "name"]);
    expect(await h.eventCount()).toBe(before);
  });

  test("a body over the size limit is refused", async () => {
    const roomId = await publicRoom();
    const r = await sendCommand(h.nc, "owner", "msg.post", { roomId, body: "x".repeat(70_000) });
    expect(r).toMatchObject({ ok: false, error: { code: "invalid" } });
    const r2 = await sendCommand(h.nc, "owner", "msg.post", { roomId, body: "x".repeat(8001) });
    expect(r2).toMatchObject({ ok: false, error: { code: "invalid" } });
    const r3 = await sendCommand(h.nc, "owner", "msg.post", { roomId, body: "x".repeat(8000) });
    expect(r3.ok).toBe(true);
  });

  test("the admin subject moderates a room the admin is not in; the user subject does not", async () => {
    const roomId = await publicRoom();
    await mustSend(h.nc, "gina", "room.join", { roomId });
    const asUser = await sendCommand(h.nc, "root", "room.remove", { roomId, userId: "gina" });
    expect(asUser).toMatchObject({ ok: false, error: { code: "forbidden" } });
    const asAdmin = await sendCommand(h.nc, "root", "room.remove", { roomId, userId: "gina" }, { admin: true });
    expect(asAdmin.ok).toBe(true);
  });

  test("the request's trace context and correlation id reach the event", async () => {
    const roomId = await publicRoom();
    const parent = childTrace();
    const hdrs = headers();
    hdrs.set(H.traceparent, parent.traceparent);
    hdrs.set(H.correlation, "corr-xyz");
    const r = await sendCommand(h.nc, "owner", "msg.post", { roomId, body: "traced" }, { headers: hdrs });
    expect(r.ok).toBe(true);
    const e = await h.store.readEvent(r.ok ? r.seq : 0);
    expect(traceIdOf(e!.traceparent)).toBe(traceIdOf(parent.traceparent));
    expect(e!.correlationId).toBe("corr-xyz");
    expect(e!.causationId).toBe(e!.commandId);
  });

  test("reacting twice is a no-op answered ok with the current sequence", async () => {
    const roomId = await publicRoom();
    const post = await mustSend(h.nc, "owner", "msg.post", { roomId, body: "react to me" });
    const messageId = post.result["messageId"];
    const first = await mustSend(h.nc, "owner", "msg.react", { roomId, messageId, emoji: "👍" });
    const second = await mustSend(h.nc, "owner", "msg.react", { roomId, messageId, emoji: "👍" });
    expect(second.seq).toBe(first.seq);
    const events = await h.store.readSubject(`ev.msg.${roomId}.${messageId}`);
    expect(events.map((e) => e.type)).toEqual(["MessagePosted", "ReactionAdded"]);
  });
});

describe("logging", () => {
  test("one line per command with its id, user, outcome and duration", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: "info" },
      { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
    const own = await startCommandHarness({ log });
    try {
      const roomId = (await mustSend(own.nc, "logger", "room.create", { name: "logs", kind: "public" })).result[
        "roomId"
      ];
      for (let i = 0; i < 20; i++) await sendCommand(own.nc, "logger", "msg.post", { roomId, body: `line ${i}` });
      await sendCommand(own.nc, "logger", "room.join", { roomId: "no-such-room" });
      await sendCommand(own.nc, "logger", "room.join", { roomId: "bad.id" });
    } finally {
      await own.stop();
    }
    const commandLines = lines.filter((l) => l["msg"] === "command");
    expect(commandLines).toHaveLength(23);
    for (const l of commandLines) {
      expect(l).toMatchObject({
        cmd: expect.any(String),
        user: "logger",
        action: expect.any(String),
        ms: expect.any(Number),
      });
    }
    expect(commandLines.map((l) => l["outcome"])).toEqual([...Array(21).fill("ok"), "not_found", "invalid"]);
  });
});

describe("rate limits", () => {
  test("over the burst: rate_limited with retryAfterMs, nothing appended", async () => {
    const own = await startCommandHarness({ rateLimit: { burst: 5, perSecond: 1 } });
    try {
      const roomId = (await mustSend(own.nc, "hank", "room.create", { name: "limits", kind: "public" })).result[
        "roomId"
      ];
      const replies = [];
      for (let i = 0; i < 6; i++)
        replies.push(await sendCommand(own.nc, "hank", "msg.post", { roomId, body: `m${i}` }));
      expect(replies.slice(0, 4).every((r) => r.ok)).toBe(true);
      const limited = replies[4]!;
      expect(limited).toMatchObject({ ok: false, error: { code: "rate_limited" } });
      const retry = !limited.ok && (limited.error.details?.["retryAfterMs"] as number);
      expect(retry).toBeGreaterThan(0);
      expect(retry).toBeLessThanOrEqual(1000);
      expect(await own.eventCount()).toBe(5);
      // Another user is not limited by hank's bucket.
      expect((await sendCommand(own.nc, "ivy", "room.join", { roomId })).ok).toBe(true);
    } finally {
      await own.stop();
    }
  });
});

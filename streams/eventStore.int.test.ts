import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConflictError, type DomainEvent } from "../domain/index.ts";
import { roomSpec } from "../commands/aggregateSpecs.ts";
import { startTestNats } from "../test/nats.ts";
import { AggregateRepository } from "./aggregates.ts";
import { connectNats } from "./connect.ts";
import { decodeEvent, encodeEvent, EnvelopeError, H, headersOf, type EventMeta } from "./envelope.ts";
import { EventStore } from "./eventStore.ts";
import { scanLog } from "./scan.ts";
import { ensureBuckets, ensureEventStream, eventStreamConfig, StreamConfigError } from "./setup.ts";
import { EVENT_STREAM } from "./subjects.ts";
import { childTrace, isTraceparent, traceIdOf } from "./trace.ts";

let server: Awaited<ReturnType<typeof startTestNats>>;
let nc: NatsConnection;
let store: EventStore;

const meta = (commandId: string, actor = "alice"): EventMeta => ({
  actor,
  commandId,
  correlationId: commandId,
  causationId: commandId,
  trace: childTrace(),
});
const joined = (roomId: string, userId: string): DomainEvent =>
  ({ type: "MemberJoined", data: { roomId, userId } }) as DomainEvent;

beforeAll(async () => {
  server = await startTestNats();
  nc = await connectNats(server.url);
  await ensureEventStream(nc);
  store = new EventStore(nc);
});
afterAll(async () => {
  await nc.close();
  await server.stop();
});

describe("the event stream", () => {
  test("is created with deny_delete, deny_purge and allow_direct, and again without error", async () => {
    const again = await ensureEventStream(nc);
    expect(again.warnings).toEqual([]);
    const c = again.info.config;
    expect([c.deny_delete, c.deny_purge, c.allow_direct, c.subjects]).toEqual([true, true, true, ["ev.>"]]);
    expect(c.duplicate_window).toBeGreaterThanOrEqual(120e9);
  });

  test("refuses a purge and a delete", async () => {
    await store.append(encodeEvent(joined("purge-me", "u1"), meta("c-purge")), 0);
    const jsm = await jetstreamManager(nc);
    await expect(jsm.streams.purge(EVENT_STREAM)).rejects.toThrow(/purge not permitted/);
    await expect(jsm.streams.deleteMessage(EVENT_STREAM, 1)).rejects.toThrow(/delete not permitted/);
    expect((await jsm.streams.info(EVENT_STREAM)).state.messages).toBeGreaterThan(0);
  });

  test("an existing stream that allows deletes is refused with a report", async () => {
    const other = await startTestNats();
    const onc = await connectNats(other.url);
    try {
      const jsm = await jetstreamManager(onc);
      await jsm.streams.add({ ...eventStreamConfig(), deny_delete: false, deny_purge: false, allow_direct: false });
      const err = await ensureEventStream(onc).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StreamConfigError);
      expect((err as StreamConfigError).problems).toHaveLength(3);
      expect((err as Error).message).toMatch(/deny_delete is off/);
      expect((err as Error).message).toMatch(/deny_purge is off/);
      expect((err as Error).message).toMatch(/allow_direct is off/);
    } finally {
      await onc.close();
      await other.stop();
    }
  });

  test("creates the buckets idempotently", async () => {
    await ensureBuckets(nc);
    const b = await ensureBuckets(nc);
    expect(Object.keys(b).sort()).toEqual([
      "commands",
      "members",
      "presence",
      "snapshots",
      "thread_participants",
      "user_rooms",
    ]);
    const names: string[] = [];
    for await (const s of new Kvm(nc).list()) names.push(s.bucket);
    expect(names.sort()).toEqual(["commands", "members", "presence", "snapshots", "thread_participants", "user_rooms"]);
  });
});

describe("append", () => {
  test("writes the envelope headers and expects the subject's last sequence", async () => {
    const parent = childTrace();
    const m = { ...meta("cmd-a1"), correlationId: "corr-1", trace: { ...childTrace(parent), tracestate: "vendor=x" } };
    const first = await store.append(encodeEvent(joined("r-append", "bob"), m), 0);
    expect(first.duplicate).toBe(false);
    const [e] = await store.readSubject("ev.room.r-append");
    expect(e).toMatchObject({
      seq: first.seq,
      type: "MemberJoined",
      actor: "alice",
      commandId: "cmd-a1",
      correlationId: "corr-1",
      causationId: "cmd-a1",
      storedSchema: 1,
      tracestate: "vendor=x",
    });
    expect(traceIdOf(e!.traceparent)).toBe(traceIdOf(parent.traceparent));
    const raw = await (await jetstreamManager(nc)).streams.getMessage(EVENT_STREAM, { seq: first.seq });
    expect(raw!.header!.get(H.msgId)).toBe("alice:cmd-a1");

    const second = await store.append(encodeEvent(joined("r-append", "carol"), meta("cmd-a2")), first.seq);
    expect(second.seq).toBeGreaterThan(first.seq);
  });

  test("a stale expected sequence is a ConflictError and appends nothing", async () => {
    await store.append(encodeEvent(joined("r-conflict", "bob"), meta("cmd-c1")), 0);
    const before = (await store.readSubject("ev.room.r-conflict")).length;
    await expect(store.append(encodeEvent(joined("r-conflict", "carol"), meta("cmd-c2")), 0)).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect((await store.readSubject("ev.room.r-conflict")).length).toBe(before);
  });

  test("two creations of one aggregate: exactly one wins", async () => {
    const results = await Promise.allSettled([
      store.append(encodeEvent(joined("r-race", "bob"), meta("cmd-r1")), 0),
      store.append(encodeEvent(joined("r-race", "carol"), meta("cmd-r2")), 0),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected" && r.reason instanceof ConflictError)).toHaveLength(1);
  });

  test("a repeated message id within the window gives the original sequence", async () => {
    const e = encodeEvent(joined("r-dup", "bob"), meta("cmd-d1"));
    const first = await store.append(e, 0);
    const again = await store.append(encodeEvent(joined("r-dup", "bob"), meta("cmd-d1")), first.seq);
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    expect(await store.readSubject("ev.room.r-dup")).toHaveLength(1);
  });
});

describe("reading", () => {
  test("an aggregate's events come in order across batches, after a given sequence", async () => {
    const small = new EventStore(nc, { batchSize: 3 });
    let seq = 0;
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) {
      seq = (await small.append(encodeEvent(joined("r-read", `u${i}`), meta(`cmd-read-${i}`)), seq)).seq;
      seqs.push(seq);
      await small.append(encodeEvent(joined(`r-noise-${i}`, "x"), meta(`cmd-noise-${i}`)), 0);
    }
    const all = await small.readSubject("ev.room.r-read");
    expect(all.map((e) => e.seq)).toEqual(seqs);
    expect((await small.readSubject("ev.room.r-read", seqs[6])).map((e) => e.seq)).toEqual(seqs.slice(7));
    expect(await small.readSubject("ev.room.nothing-here")).toEqual([]);
    expect(await small.lastSeqOf("ev.room.r-read")).toBe(seqs[9]);
    expect(await small.lastSeqOf("ev.room.nothing-here")).toBe(0);
  });

  test("loading creates no consumer", async () => {
    await store.readSubject("ev.room.r-read");
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(EVENT_STREAM)).state.consumer_count).toBe(0);
  });

  test("an old payload version is upcast on read", async () => {
    const js = store.js;
    const h = headers();
    h.set(H.type, "MessagePosted");
    h.set(H.schema, "1");
    h.set(H.actor, "bob");
    h.set(H.command, "old-cmd");
    await js.publish(
      "ev.msg.r-old.m-old",
      JSON.stringify({ roomId: "r-old", messageId: "m-old", authorId: "bob", text: "from 2024" }),
      { headers: h },
    );
    const [e] = await store.readSubject("ev.msg.r-old.m-old");
    expect(e!.storedSchema).toBe(1);
    expect(e!.event).toEqual({
      type: "MessagePosted",
      data: { roomId: "r-old", messageId: "m-old", authorId: "bob", body: "from 2024", mentions: [] },
    });
  });

  test("an unreadable event is an EnvelopeError naming its sequence", async () => {
    const h = headers();
    h.set(H.type, "NoSuchEvent");
    h.set(H.schema, "1");
    const ack = await store.js.publish("ev.room.r-bad", "{}", { headers: h });
    const err = await store.readSubject("ev.room.r-bad").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvelopeError);
    expect((err as Error).message).toContain(`event ${ack.seq}`);
  });
});

describe("headersOf", () => {
  test("reads from a consumer's message what m.headers holds, and decodeEvent gives the same envelope", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "HEADERS_OF", subjects: ["hdr.>"] });
    const js = jetstream(nc);
    const e = encodeEvent(joined("r-headers", "bob"), {
      ...meta("cmd-h1"),
      correlationId: "corr: with colon",
      trace: { ...childTrace(), tracestate: "a=1,b=2 ,  c=3" },
    });
    await js.publish("hdr.event", e.payload, { headers: e.headers });
    const odd = headers();
    odd.append("X-Twice", " first ");
    odd.append("X-Twice", "second");
    odd.append("x-twice", "lower case is another name");
    odd.set("X-Empty", "");
    odd.set(H.type, "MemberJoined");
    await js.publish("hdr.odd", e.payload, { headers: odd });
    await js.publish("hdr.none", e.payload);
    const consumer = await js.consumers.get("HEADERS_OF");
    const messages = await consumer.consume();
    const seen: string[] = [];
    for await (const m of messages) {
      const fast = headersOf(m);
      const slow = m.headers;
      expect(fast === undefined ? undefined : [...fast]).toEqual(slow === undefined ? undefined : [...slow]);
      // Parsed from the received bytes, not m.headers again (a nats.js upgrade may move them: see headersOf).
      if (slow !== undefined) expect(fast).toBeInstanceOf(Map);
      if (m.subject === "hdr.event") {
        const raw = { seq: m.seq, subject: m.subject, time: new Date(0), data: m.data };
        expect(decodeEvent({ ...raw, header: fast })).toEqual(decodeEvent({ ...raw, header: slow }));
      }
      seen.push(m.subject);
      if (m.info.pending === 0) break;
    }
    messages.stop();
    expect(seen).toEqual(["hdr.event", "hdr.odd", "hdr.none"]);
    await jsm.streams.delete("HEADERS_OF");
  });
});

describe("scanLog", () => {
  test("hands batches over one at a time, in order, reading ahead meanwhile; a failing one ends the scan", async () => {
    const js = jetstream(nc);
    const appended: number[] = [];
    for (let i = 0; i < 60; i++) {
      const e = encodeEvent(joined("r-scan", `user-${i}`), meta(`cmd-scan-${i}`));
      appended.push((await js.publish(e.subject, e.payload, { headers: e.headers, msgID: e.msgId })).seq);
    }
    const seen: number[] = [];
    let inside = 0;
    let most = 0;
    let finished = 0;
    const end = await scanLog(nc, { filterSubjects: ["ev.room.r-scan"], batchSize: 7 }, async (events) => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 2 + (events[0]!.seq % 5)));
      seen.push(...events.map((e) => e.seq));
      inside--;
      finished++;
    });
    expect(seen).toEqual(appended);
    expect(most).toBe(1);
    expect(end.seq).toBe(appended.at(-1));
    const batches = finished;
    expect(batches).toBeGreaterThanOrEqual(9);

    let calls = 0;
    const failing = scanLog(nc, { filterSubjects: ["ev.room.r-scan"], batchSize: 7 }, async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (calls === 3) throw new Error("third batch refused");
    });
    await expect(failing).rejects.toThrow("third batch refused");
    expect(calls).toBe(3);
  });
});

describe("aggregates", () => {
  test("a long aggregate is loaded from a snapshot plus the events after it", async () => {
    const buckets = await ensureBuckets(nc);
    const writer = new AggregateRepository(store, buckets.snapshots, { snapshotEvery: 20 });
    const subject = "ev.room.r-snap";
    const agg = await writer.load(subject, roomSpec);
    const created: DomainEvent = {
      type: "RoomCreated",
      data: {
        roomId: "r-snap",
        name: "snap",
        kind: "public",
        topic: "",
        createdBy: "o",
        members: [{ userId: "o", role: "owner" }],
      },
    } as DomainEvent;
    let ack = await store.append(encodeEvent(created, meta("snap-0", "o")), agg.seq);
    writer.applied(agg, roomSpec, created, ack.seq, "o:snap-0");
    for (let i = 1; i <= 45; i++) {
      const e = joined("r-snap", `m${i}`);
      ack = await store.append(encodeEvent(e, meta(`snap-${i}`, `m${i}`)), agg.seq);
      writer.applied(agg, roomSpec, e, ack.seq, `m${i}:snap-${i}`);
    }
    await writer.flush();
    const snap = await buckets.snapshots.get("room.r-snap");
    expect(snap?.json<{ seq: number }>().seq).toBeLessThan(ack.seq);
    expect(snap?.json<{ seq: number }>().seq).toBeGreaterThan(0);

    const reader = new AggregateRepository(store, buckets.snapshots);
    const loaded = await reader.load(subject, roomSpec);
    const full = await new AggregateRepository(store, undefined).load(subject, roomSpec);
    expect(loaded.seq).toBe(ack.seq);
    expect([...loaded.state.members].sort()).toEqual([...full.state.members].sort());
    expect(loaded.state.members.size).toBe(46);
    expect(loaded.commands.get("m45:snap-45")).toBe(ack.seq);
  });

  test("the command that created an aggregate is remembered for good: past the command memory, in snapshots, from the log", async () => {
    const buckets = await ensureBuckets(nc);
    const writer = new AggregateRepository(store, buckets.snapshots, { snapshotEvery: 5, commandMemory: 2 });
    const subject = "ev.room.r-origin";
    const agg = writer.blank(subject, roomSpec);
    expect(agg.seq).toBe(0);
    const created: DomainEvent = {
      type: "RoomCreated",
      data: {
        roomId: "r-origin",
        name: "origin",
        kind: "public",
        topic: "",
        createdBy: "o",
        members: [{ userId: "o", role: "owner" }],
      },
    } as DomainEvent;
    let ack = await store.append(encodeEvent(created, meta("origin-0", "o")), agg.seq);
    writer.applied(agg, roomSpec, created, ack.seq, "o:origin-0");
    const createdSeq = ack.seq;
    for (let i = 1; i <= 12; i++) {
      const e = joined("r-origin", `m${i}`);
      ack = await store.append(encodeEvent(e, meta(`origin-${i}`, `m${i}`)), agg.seq);
      writer.applied(agg, roomSpec, e, ack.seq, `m${i}:origin-${i}`);
    }
    await writer.flush();
    expect(agg.commands.has("o:origin-0")).toBe(false);
    expect(writer.remembered(agg, "o:origin-0")).toBe(createdSeq);
    expect(writer.remembered(agg, "m1:origin-1")).toBeUndefined();
    // A snapshot carries it, and so does the log read from the start.
    const fromSnapshot = new AggregateRepository(store, buckets.snapshots, { commandMemory: 2 });
    const a = await fromSnapshot.load(subject, roomSpec);
    expect((await buckets.snapshots.get("room.r-origin"))?.json<{ origin?: unknown }>().origin).toEqual([
      "o:origin-0",
      createdSeq,
    ]);
    expect(fromSnapshot.remembered(a, "o:origin-0")).toBe(createdSeq);
    const fromLog = new AggregateRepository(store, undefined, { commandMemory: 2 });
    const b = await fromLog.load(subject, roomSpec);
    expect(b.seq).toBe(ack.seq);
    expect(fromLog.remembered(b, "o:origin-0")).toBe(createdSeq);
    expect(fromLog.remembered(b, "m12:origin-12")).toBe(ack.seq);
  });

  test("a blank aggregate reads nothing; appending on it where the subject has events is a conflict", async () => {
    await store.append(encodeEvent(joined("r-blank", "a"), meta("blank-1")), 0);
    const repo = new AggregateRepository(store, undefined);
    const blank = repo.blank("ev.room.r-blank", roomSpec);
    expect(blank.seq).toBe(0);
    await expect(store.append(encodeEvent(joined("r-blank", "b"), meta("blank-2")), blank.seq)).rejects.toBeInstanceOf(
      ConflictError,
    );
    // Not cached until an event is applied to it: the next load reads the aggregate (from its
    // snapshot, where it has one), not the blank's sequence 0.
    expect(repo.blank("ev.room.r-blank", roomSpec)).not.toBe(blank);
    const loaded = await repo.load("ev.room.r-blank", roomSpec, { fresh: true });
    expect(loaded).not.toBe(blank);
    expect(loaded.seq).toBeGreaterThan(0);
    expect(loaded.state.members.has("a" as never)).toBe(true);
    // A blank that an append succeeded on is cached from then on.
    const fresh = repo.blank("ev.room.r-blank-new", roomSpec);
    const ack = await store.append(encodeEvent(joined("r-blank-new", "c"), meta("blank-3")), 0);
    repo.applied(fresh, roomSpec, joined("r-blank-new", "c"), ack.seq, "alice:blank-3");
    expect(await repo.load("ev.room.r-blank-new", roomSpec)).toBe(fresh);
    expect(repo.blank("ev.room.r-blank-new", roomSpec)).toBe(fresh);
  });

  test("a cached state is returned as it is, and refreshed on request", async () => {
    const repo = new AggregateRepository(store, undefined);
    const subject = "ev.room.r-cache";
    await store.append(encodeEvent(joined("r-cache", "a"), meta("cache-1")), 0);
    const first = await repo.load(subject, roomSpec);
    await store.append(encodeEvent(joined("r-cache", "b"), meta("cache-2")), first.seq);
    const stale = await repo.load(subject, roomSpec);
    expect(stale.state.members.has("b" as never)).toBe(false);
    const fresh = await repo.load(subject, roomSpec, { fresh: true });
    expect(fresh.state.members.has("b" as never)).toBe(true);
  });
});

test("trace context: a valid parent keeps its trace id; a bad one starts a new trace", () => {
  const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const child = childTrace({ traceparent: parent, tracestate: "a=1" });
  expect(traceIdOf(child.traceparent)).toBe("0af7651916cd43dd8448eb211c80319c");
  expect(child.traceparent).not.toBe(parent);
  expect(child.tracestate).toBe("a=1");
  const fresh = childTrace({ traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01" });
  expect(isTraceparent(fresh.traceparent)).toBe(true);
  expect(traceIdOf(fresh.traceparent)).not.toBe("00000000000000000000000000000000");
});

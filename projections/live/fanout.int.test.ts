import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Kvm } from "@nats-io/kv";
import { startProjections } from "../service.ts";
import { THREADS_BUCKET, threadRepliers } from "../threads/projection.ts";
import { startLive } from "./live.ts";
import type { LiveFanout } from "./fanout.ts";
import { Recorder, startLiveWorld, within, type LiveWorld, type TestUser } from "./testing/liveWorld.ts";

let world: LiveWorld;
let live: LiveFanout;
let projections: NatsConnection;
const registry = new Registry();

beforeAll(async () => {
  world = await startLiveWorld();
  projections = await world.sys.service("projections");
  live = await startLive(projections, { registry, typing: false });
  await within(live.whenActive(), 10_000, "the fan-out to become active");
});
afterAll(async () => {
  await live?.stop();
  await world?.stop();
});

/** The first message on `subject` for the event at `seq`, as `u` received it. */
const delivered = (u: TestUser, subject: string, seq: number) =>
  u.inbox.waitFor((r) => r.subject === subject && r.event.seq === seq, `${subject} #${seq} at ${u.name}`);
/** Everything `u` received about `roomId` on their own deliveries. */
const about = (u: TestUser, roomId: string) => u.inbox.received.filter((r) => r.event.roomId === roomId);

describe("routing", () => {
  test("a public room's post reaches live.room subscribers with its sequence", async () => {
    const [alice, bob] = [await world.user("alice"), await world.user("bob")];
    const roomId = await world.room(alice, "public", [], [bob]);
    const watcher = new Recorder();
    watcher.listen(bob.nc, `live.room.${roomId}`);
    await bob.nc.flush();
    const { seq, result } = await alice.send("msg.post", { roomId, body: "hello everyone" });
    const got = await watcher.waitFor((r) => r.event.seq === seq, "the post on live.room");
    expect(got.subject).toBe(`live.room.${roomId}`);
    expect(got.event).toMatchObject({
      type: "MessagePosted",
      actor: alice.id,
      roomId,
      messageId: result["messageId"],
      payload: { body: "hello everyone", authorId: alice.id },
    });
    expect(Number.isNaN(Date.parse(got.event.time))).toBe(false);
    // Bob's join was a notice to him (sent before the post, on the same connection); a public
    // room's events never come on anyone's deliver.<uid>.room.
    expect(about(bob, roomId).map((r) => `${r.subject} ${r.event.type}`)).toEqual([
      `deliver.${bob.id}.notice MemberJoined`,
    ]);
  });

  test("a private room's events reach each member and no one else, who cannot even subscribe to them", async () => {
    const [alice, bob, carol, dave] = [
      await world.user("alice"),
      await world.user("bob"),
      await world.user("carol"),
      await world.user("dave"),
    ];
    const roomId = await world.room(alice, "private", [bob, carol]);
    const { seq } = await bob.send("msg.post", { roomId, body: "members only" });
    for (const u of [alice, bob, carol])
      expect((await delivered(u, `deliver.${u.id}.room.${roomId}`, seq)).event.payload["body"]).toBe("members only");

    // Dave may not subscribe to Bob's deliveries: the server refuses it.
    const spy = await world.sys.user(await world.issuer.token("dave", ["user"]), dave.id);
    const refused = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of spy.status())
          if (s.type === "error") resolve(String((s as { error?: Error }).error?.message));
      })();
    });
    const leak = spy.subscribe(`deliver.${bob.id}.>`);
    await spy.flush();
    expect(await refused).toMatch(/permissions violation/i);
    await world.barrier();
    expect(leak.getProcessed()).toBe(0);
    expect(about(dave, roomId)).toEqual([]);
  });

  test("a removed and a banned member get the notice of it, then nothing more of the room", async () => {
    const [alice, bob, rita, bart] = [
      await world.user("alice"),
      await world.user("bob"),
      await world.user("rita"),
      await world.user("bart"),
    ];
    const roomId = await world.room(alice, "private", [bob, rita, bart]);
    const removed = await alice.send("room.remove", { roomId, userId: rita.id, reason: "bye" });
    const banned = await alice.send("room.ban", { roomId, userId: bart.id });
    expect((await delivered(rita, `deliver.${rita.id}.notice`, removed.seq)).event).toMatchObject({
      type: "MemberRemoved",
      payload: { userId: rita.id },
    });
    expect((await delivered(bart, `deliver.${bart.id}.notice`, banned.seq)).event).toMatchObject({
      type: "MemberBanned",
      payload: { userId: bart.id },
    });
    // Mentioning them changes nothing: they may not read the room any more.
    const post = await alice.send("msg.post", {
      roomId,
      body: "after they left",
      mentions: [rita.id, bart.id, bob.id],
    });
    await delivered(bob, `deliver.${bob.id}.room.${roomId}`, post.seq);
    await delivered(bob, `deliver.${bob.id}.mention.${roomId}`, post.seq);
    await world.barrier();
    expect(about(rita, roomId).filter((r) => r.event.seq > removed.seq)).toEqual([]);
    expect(about(bart, roomId).filter((r) => r.event.seq > banned.seq)).toEqual([]);
    // Nor did the removal itself come to them as a room event, only as the notice.
    expect(
      about(rita, roomId)
        .filter((r) => r.event.seq === removed.seq)
        .map((r) => r.subject),
    ).toEqual([`deliver.${rita.id}.notice`]);
  });

  test("a thread reply reaches the thread's participants but its author", async () => {
    const [alice, bob, carol] = [await world.user("alice"), await world.user("bob"), await world.user("carol")];
    const roomId = await world.room(alice, "public", [], [bob, carol]);
    const root = await alice.send("msg.post", { roomId, body: "a thread" });
    const threadRootId = root.result["messageId"];
    const first = await bob.send("msg.post", { roomId, body: "first reply", threadRootId });
    const second = await carol.send("msg.post", { roomId, body: "second reply", threadRootId });
    const thread = `thread.${roomId}`;
    expect((await delivered(alice, `deliver.${alice.id}.${thread}`, first.seq)).event.payload["threadRootId"]).toBe(
      threadRootId,
    );
    await delivered(alice, `deliver.${alice.id}.${thread}`, second.seq);
    await delivered(bob, `deliver.${bob.id}.${thread}`, second.seq);
    await world.barrier();
    expect(bob.inbox.on(`deliver.${bob.id}.${thread}`).map((r) => r.event.seq)).toEqual([second.seq]);
    expect(carol.inbox.on(`deliver.${carol.id}.${thread}`)).toEqual([]);
  });

  test("a mention reaches the mentioned user, for the post and its edits", async () => {
    const [alice, bob, dave] = [await world.user("alice"), await world.user("bob"), await world.user("dave")];
    const roomId = await world.room(alice, "private", [bob]);
    const post = await alice.send("msg.post", { roomId, body: "hey @bob and @dave", mentions: [bob.id, dave.id] });
    const edit = await alice.send("msg.edit", {
      roomId,
      messageId: post.result["messageId"],
      body: "hey @bob, and @dave who is not here",
    });
    expect((await delivered(bob, `deliver.${bob.id}.mention.${roomId}`, post.seq)).event.type).toBe("MessagePosted");
    expect((await delivered(bob, `deliver.${bob.id}.mention.${roomId}`, edit.seq)).event.type).toBe("MessageEdited");
    await world.barrier();
    expect(about(dave, roomId)).toEqual([]);
  });

  test("an event that cannot be decoded is skipped, and the ones after it are delivered", async () => {
    const [alice, bob] = [await world.user("alice"), await world.user("bob")];
    const roomId = await world.room(alice, "private", [bob]);
    // On a subject of its own: an aggregate with an unreadable event cannot be loaded any more.
    await jetstream(await world.sys.service("commands")).publish("ev.msg.nowhere.nothing", "not json");
    const { seq } = await alice.send("msg.post", { roomId, body: "still here" });
    await delivered(bob, `deliver.${bob.id}.room.${roomId}`, seq);
    const skipped = await registry.getSingleMetric("natter_live_events_skipped_total")!.get();
    expect(skipped.values.find((v) => v.labels["reason"] === "undecodable")?.value).toBe(1);
  });
});

describe("a small cache", () => {
  test("rooms folded on a miss route right, and only up to the event: a later joiner does not get what came before", async () => {
    const [alice, bob, carol, dave] = [
      await world.user("alice"),
      await world.user("bob"),
      await world.user("carol"),
      await world.user("dave"),
    ];
    const one = await world.room(alice, "private", [bob]);
    const two = await world.room(alice, "private", [carol]);
    // While no fan-out runs, a post, then Dave is invited and joins: the next fan-out resumes
    // before the post, with an empty cache.
    await live.stop();
    const early = await alice.send("msg.post", { roomId: one, body: "before Dave" });
    await alice.send("room.invite", { roomId: one, userId: dave.id });
    const joined = await dave.send("room.join", { roomId: one });
    const small = new Registry();
    live = await startLive(projections, {
      registry: small,
      typing: false,
      roomCacheSize: 1,
      postCacheSize: 1,
      threadCacheSize: 1,
    });
    await within(live.whenActive(), 10_000, "the fan-out to become active");
    await delivered(bob, `deliver.${bob.id}.room.${one}`, early.seq);
    await delivered(dave, `deliver.${dave.id}.notice`, joined.seq);
    const seqs: Record<string, number[]> = { [one]: [], [two]: [] };
    for (let i = 0; i < 3; i++) {
      for (const roomId of [one, two])
        seqs[roomId]!.push((await alice.send("msg.post", { roomId, body: `round ${i}` })).seq);
    }
    for (const seq of seqs[one]!) for (const u of [bob, dave]) await delivered(u, `deliver.${u.id}.room.${one}`, seq);
    for (const seq of seqs[two]!) await delivered(carol, `deliver.${carol.id}.room.${two}`, seq);
    await world.barrier();
    expect(about(dave, one).some((r) => r.event.seq === early.seq)).toBe(false);
    expect(about(carol, one)).toEqual([]);
    expect(about(bob, two)).toEqual([]);
    expect(about(dave, two)).toEqual([]);
    const misses = await small.getSingleMetric("natter_live_cache_misses_total")!.get();
    expect(misses.values.find((v) => v.labels["cache"] === "rooms")?.value).toBeGreaterThanOrEqual(6);
  });
});

describe("a fan-out that starts afresh", () => {
  test("a thread's earlier repliers get its new replies: the threads projection remembers them", async () => {
    const threads = await startProjections(projections, undefined as never, {
      log: pino({ level: "silent" }),
      only: ["threads"],
      leaseMs: 2000,
    });
    try {
      const [fay, gus, hal] = [await world.user("fay"), await world.user("gus"), await world.user("hal")];
      const roomId = await world.room(fay, "public", [], [gus, hal]);
      const root = await fay.send("msg.post", { roomId, body: "a thread before the restart" });
      const threadRootId = root.result["messageId"] as string;
      const early = await gus.send("msg.post", { roomId, body: "gus replied early", threadRootId });
      await delivered(fay, `deliver.${fay.id}.thread.${roomId}`, early.seq);
      const kv = await new Kvm(projections).open(THREADS_BUCKET);
      await within(
        (async () => {
          while (!(await threadRepliers(kv, roomId, threadRootId)).includes(gus.id))
            await new Promise((r) => setTimeout(r, 20));
        })(),
        10_000,
        "the threads projection to record gus",
      );

      // The fan-out stops where it got (after gus's reply) and a new one starts with empty caches.
      await live.stop();
      live = await startLive(projections, { registry: new Registry(), typing: false });
      await within(live.whenActive(), 10_000, "the new fan-out to become active");

      const late = await hal.send("msg.post", { roomId, body: "hal replied after the restart", threadRootId });
      await delivered(gus, `deliver.${gus.id}.thread.${roomId}`, late.seq);
      await delivered(fay, `deliver.${fay.id}.thread.${roomId}`, late.seq);
      await world.barrier();
      expect(hal.inbox.on(`deliver.${hal.id}.thread.${roomId}`)).toEqual([]);
    } finally {
      await threads.stop();
    }
  });
});

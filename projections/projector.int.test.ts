import type { KV } from "@nats-io/kv";
import { sql } from "drizzle-orm";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuckets } from "../streams/index.ts";
import { mustSend } from "../test/commandClient.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { query } from "./db.ts";
import { membersProjection, type MembershipValue } from "./members/projection.ts";
import { readCheckpoint } from "./pgStore.ts";
import { waitForApplied } from "./readYourWrites.ts";
import { roomsProjection } from "./rooms/projection.ts";
import { PROJECTIONS } from "./catalog.ts";
import { Projector } from "./projector.ts";
import { timelineProjection } from "./timeline/projection.ts";

let s: SystemHarness;
let buckets: { members: KV; user_rooms: KV };
beforeAll(async () => {
  s = await startSystem();
  const b = await ensureBuckets(s.nc);
  buckets = { members: b.members, user_rooms: b.user_rooms };
});
afterAll(async () => {
  await s.stop();
});

const timelineCheckpoint = async () =>
  (await readCheckpoint(s.database.db, timelineProjection.liveSchema, timelineProjection.name))?.seq ?? 0;
const roomsCheckpoint = async () =>
  (await readCheckpoint(s.database.db, roomsProjection.liveSchema, roomsProjection.name))?.seq ?? 0;

async function shard(kv: KV, key: string): Promise<MembershipValue | undefined> {
  const e = await kv.get(key);
  return e === null || e.operation !== "PUT" ? undefined : e.json<MembershipValue>();
}

describe("KV membership shards", () => {
  test("join, leave and role changes set members and user_rooms; an older event never overwrites a newer value", async () => {
    const created = await mustSend(s.nc, "olga", "room.create", { name: "shards", kind: "public" });
    const roomId = created.result["roomId"] as string;
    const bobJoined = await mustSend(s.nc, "bob", "room.join", { roomId });
    const carolJoined = await mustSend(s.nc, "carol", "room.join", { roomId });
    const bobModerator = await mustSend(s.nc, "olga", "room.role", { roomId, userId: "bob", role: "moderator" });
    const carolLeft = await mustSend(s.nc, "carol", "room.leave", { roomId });
    const bobMember = await mustSend(s.nc, "olga", "room.role", { roomId, userId: "bob", role: "member" });
    await s.caughtUp(bobMember.seq);

    const both = async (userId: string) => {
      const m = await shard(buckets.members, `${roomId}.${userId}`);
      expect(await shard(buckets.user_rooms, `${userId}.${roomId}`), `user_rooms of ${userId}`).toEqual(m);
      return m;
    };
    expect(await both("olga")).toEqual({ role: "owner", joinedSeq: created.seq, seq: created.seq });
    expect(await both("bob")).toEqual({ role: "member", joinedSeq: bobJoined.seq, seq: bobMember.seq });
    expect(await both("carol")).toEqual({ role: null, joinedSeq: null, seq: carolLeft.seq });

    // Re-applying older events (as after a crash between the writes and the checkpoint) changes nothing.
    for (const seq of [created.seq, bobJoined.seq, carolJoined.seq, bobModerator.seq, carolLeft.seq]) {
      const old = await s.store.readEvent(seq);
      expect(old, `event ${seq}`).not.toBeNull();
      await membersProjection.apply(buckets, [old!]);
    }
    expect(await both("olga")).toEqual({ role: "owner", joinedSeq: created.seq, seq: created.seq });
    expect(await both("bob")).toEqual({ role: "member", joinedSeq: bobJoined.seq, seq: bobMember.seq });
    expect(await both("carol")).toEqual({ role: null, joinedSeq: null, seq: carolLeft.seq });

    // A crash between the two writes left user_rooms behind members: applying the event again repairs it.
    await buckets.user_rooms.put(
      `bob.${roomId}`,
      JSON.stringify({ role: "moderator", joinedSeq: bobJoined.seq, seq: bobModerator.seq }),
    );
    await membersProjection.apply(buckets, [(await s.store.readEvent(bobMember.seq))!]);
    expect(await both("bob")).toEqual({ role: "member", joinedSeq: bobJoined.seq, seq: bobMember.seq });

    // A rejoin after the leave is newer than the tombstone: it takes its place.
    const carolBack = await mustSend(s.nc, "carol", "room.join", { roomId });
    await s.caughtUp(carolBack.seq);
    expect(await both("carol")).toEqual({ role: "member", joinedSeq: carolBack.seq, seq: carolBack.seq });
  });
});

describe("lag metrics", () => {
  test("each projection has its lag gauges, reading 0 once it has caught up", async () => {
    const roomId = (await mustSend(s.nc, "olga", "room.create", { name: "lag", kind: "public" })).result[
      "roomId"
    ] as string;
    let last = 0;
    for (let i = 0; i < 5; i++) last = (await mustSend(s.nc, "olga", "msg.post", { roomId, body: `lag ${i}` })).seq;
    await s.caughtUp(last);
    for (const name of ["natter_projection_lag_events", "natter_projection_lag_seconds"]) {
      const values = (await s.registry.getSingleMetric(name)!.get()).values;
      const byProjection = Object.fromEntries(values.map((v) => [v.labels["projection"], v.value]));
      expect(byProjection, name).toEqual(Object.fromEntries([...PROJECTIONS.keys()].map((p) => [p, 0])));
    }
    const text = await s.registry.metrics();
    expect(text).toContain('natter_projection_lag_events{projection="timeline"} 0');
    expect(text).toContain('natter_projection_lag_seconds{projection="audit"} 0');
    expect(text).toMatch(/natter_projection_events_applied_total\{projection="timeline"\} [1-9]/);
  });
});

describe("read your writes", () => {
  test("waitForApplied resolves true for a command's seq once the projection applied it", async () => {
    const roomId = (await mustSend(s.nc, "olga", "room.create", { name: "ryw", kind: "public" })).result[
      "roomId"
    ] as string;
    const posted = await mustSend(s.nc, "olga", "msg.post", { roomId, body: "read me" });
    expect(await waitForApplied(s.nc, s.store, timelineProjection, timelineCheckpoint, posted.seq, 10_000)).toBe(true);
    const rows = await query(
      s.database.db,
      sql`SELECT body FROM natter_timeline.messages WHERE message_id = ${posted.result["messageId"] as string}`,
    );
    expect(rows).toEqual([{ body: "read me" }]);
    // The rooms projection reads none of the log between its checkpoint and a message's seq: nothing to wait for.
    expect(await waitForApplied(s.nc, s.store, roomsProjection, roomsCheckpoint, posted.seq, 10_000)).toBe(true);
  });

  test("waitForApplied resolves false after its timeout while the projection is stopped; a new projector catches up a large backlog", async () => {
    const roomId = (await mustSend(s.nc, "olga", "room.create", { name: "stopped", kind: "public" })).result[
      "roomId"
    ] as string;
    await s.projections.projectors.get("timeline")!.stop();
    const first = await mustSend(s.nc, "olga", "msg.post", { roomId, body: "while stopped" });
    const started = Date.now();
    expect(await waitForApplied(s.nc, s.store, timelineProjection, timelineCheckpoint, first.seq, 800)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(790);
    expect(await timelineCheckpoint()).toBeLessThan(first.seq);

    // Many pulls' worth of events (batches of 100: the consumer pulls 200 at a time and pulls again
    // every 50): the tail of the backlog must not wait for an event that never comes.
    let last = first.seq;
    for (let i = 0; i < 40; i++) {
      const sent = await Promise.all(
        Array.from({ length: 50 }, (_, j) => mustSend(s.nc, "olga", "msg.post", { roomId, body: `backlog ${i}.${j}` })),
      );
      last = Math.max(last, ...sent.map((r) => r.seq));
    }
    const replacement = new Projector(s.nc, timelineProjection, {
      log: pino({ level: "silent" }),
      db: s.database.db,
      registry: s.registry,
      leaseMs: 2000,
      batchSize: 100,
    });
    replacement.start();
    try {
      expect(await waitForApplied(s.nc, s.store, timelineProjection, timelineCheckpoint, last, 20_000)).toBe(true);
      const n = await query<{ n: number }>(
        s.database.db,
        sql`SELECT count(*)::int AS n FROM natter_timeline.messages WHERE room_id = ${roomId}`,
      );
      expect(n[0]!.n).toBe(2001);
      const lag = (await s.registry.getSingleMetric("natter_projection_lag_events")!.get()).values.find(
        (v) => v.labels["projection"] === "timeline",
      );
      expect(lag?.value).toBe(0);
    } finally {
      await replacement.stop();
    }
  });
});

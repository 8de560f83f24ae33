import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ensureBuckets } from "../streams/index.ts";
import { mustSend } from "../test/commandClient.ts";
import { replayCli, type ReplayCli } from "../test/replayCli.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { PROJECTIONS, query, rebuild } from "../projections/index.ts";

type Diff = { projection: string; table: string; side: "live only" | "rebuilt only"; row: Record<string, unknown> };

let s: SystemHarness;
let cli: ReplayCli;
let roomId: string;
let edited: string;
let reacted: string;
beforeAll(async () => {
  s = await startSystem();
  cli = await replayCli(s.server.url, s.database.url);
  roomId = (await mustSend(s.nc, "alice", "room.create", { name: "checked", kind: "public", topic: "verify me" }))
    .result["roomId"] as string;
  await mustSend(s.nc, "bob", "room.join", { roomId });
  await mustSend(s.nc, "carol", "room.join", { roomId });
  edited = (await mustSend(s.nc, "alice", "msg.post", { roomId, body: "the original body" })).result[
    "messageId"
  ] as string;
  reacted = (await mustSend(s.nc, "bob", "msg.post", { roomId, body: "react to me" })).result["messageId"] as string;
  await mustSend(s.nc, "carol", "msg.react", { roomId, messageId: reacted, emoji: "👍" });
  await mustSend(s.nc, "alice", "msg.react", { roomId, messageId: reacted, emoji: "🎉" });
  await mustSend(s.nc, "bob", "msg.post", { roomId, body: "a reply", threadRootId: edited });
  const last = await mustSend(s.nc, "alice", "user.profile", { displayName: "Alice" });
  await s.caughtUp(last.seq);
});
afterAll(async () => {
  await cli?.close();
  await s?.stop();
});

test("verify all on a consistent system: exit 0, no differences", async () => {
  const r = await cli.json<Diff>(["verify", "all", "--no-progress"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.rows).toEqual([]);
  expect(r.stderr).toContain("verify: no differences (all)");
});

test("verify finds rows changed by hand in PostgreSQL, names their table and side, and exits 1", async () => {
  const db = s.database.db;
  await db.execute(
    sql`UPDATE natter_timeline.messages SET body = 'changed by hand' WHERE room_id = ${roomId} AND message_id = ${edited}`,
  );
  const gone = await query(
    db,
    sql`DELETE FROM natter_timeline.reactions WHERE room_id = ${roomId} AND message_id = ${reacted} AND user_id = 'carol' RETURNING emoji`,
  );
  expect(gone).toEqual([{ emoji: "👍" }]);
  await db.execute(
    sql`INSERT INTO natter_rooms.room_members (room_id, user_id, role, joined_seq, joined_at) VALUES (${roomId}, 'mallory', 'owner', 1, now())`,
  );

  const r = await cli.json<Diff>(["verify", "all", "--no-progress"]);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toContain("verify: 4 difference(s)");
  const summary = r.rows
    .map((d) => ({ projection: d.projection, table: d.table, side: d.side }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  expect(summary).toEqual([
    { projection: "rooms", table: "room_members", side: "live only" },
    { projection: "timeline", table: "messages", side: "live only" },
    { projection: "timeline", table: "messages", side: "rebuilt only" },
    { projection: "timeline", table: "reactions", side: "rebuilt only" },
  ]);
  const find = (table: string, side: Diff["side"]) => r.rows.find((d) => d.table === table && d.side === side)!.row;
  expect(find("messages", "live only")).toMatchObject({ message_id: edited, body: "changed by hand" });
  expect(find("messages", "rebuilt only")).toMatchObject({ message_id: edited, body: "the original body" });
  expect(find("reactions", "rebuilt only")).toMatchObject({
    room_id: roomId,
    message_id: reacted,
    user_id: "carol",
    emoji: "👍",
  });
  expect(find("room_members", "live only")).toMatchObject({ room_id: roomId, user_id: "mallory", role: "owner" });

  // One projection at a time says the same about itself, and nothing about the others.
  const rooms = await cli.json<Diff>(["verify", "rooms", "--no-progress"]);
  expect(rooms.code).toBe(1);
  expect(rooms.rows.map((d) => [d.projection, d.table, d.side])).toEqual([["rooms", "room_members", "live only"]]);
});

test("verify finds a tampered membership key in KV", async () => {
  const { members } = await ensureBuckets(s.nc);
  const key = `${roomId}.bob`;
  const original = (await members.get(key))!.string();
  const tampered = JSON.stringify({ ...(JSON.parse(original) as Record<string, unknown>), role: "owner" });
  await members.put(key, tampered);
  await members.put(`${roomId}.mallory`, JSON.stringify({ role: "member", joinedSeq: 1, seq: 1 }));

  const r = await cli.json<Diff>(["verify", "members", "--no-progress"]);
  expect(r.code, r.stderr).toBe(1);
  const rows = r.rows.map((d) => [d.projection, d.table, d.side, d.row]);
  expect(rows).toHaveLength(3);
  expect(rows).toEqual(
    expect.arrayContaining([
      ["members", "members", "live only", { key, value: tampered }],
      ["members", "members", "rebuilt only", { key, value: original }],
      [
        "members",
        "members",
        "live only",
        { key: `${roomId}.mallory`, value: JSON.stringify({ role: "member", joinedSeq: 1, seq: 1 }) },
      ],
    ]),
  );
});

test("after a rebuild of every projection, verify is clean again", async () => {
  for (const p of PROJECTIONS.values()) await rebuild({ nc: s.nc, db: s.database.db }, p);
  const r = await cli.json<Diff>(["verify", "all", "--no-progress"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.rows).toEqual([]);
  const [row] = await query<{ body: string }>(
    s.database.db,
    sql`SELECT body FROM natter_timeline.messages WHERE message_id = ${edited}`,
  );
  expect(row!.body).toBe("the original body");
});

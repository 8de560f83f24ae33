import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, test } from "vitest";
import { mustSend } from "../test/commandClient.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { query } from "./db.ts";

let s: SystemHarness;
beforeAll(async () => {
  s = await startSystem();
});
afterAll(async () => {
  await s.stop();
});

test("commands become rows: rooms, members, the timeline, reactions, threads, mentions, audit", async () => {
  const roomId = (await mustSend(s.nc, "alice", "room.create", { name: "general", kind: "public", topic: "hi" }))
    .result["roomId"] as string;
  await mustSend(s.nc, "bob", "room.join", { roomId });
  const m1 = (await mustSend(s.nc, "alice", "msg.post", { roomId, body: "hello @bob", mentions: ["bob"] })).result[
    "messageId"
  ] as string;
  await mustSend(s.nc, "bob", "msg.post", { roomId, body: "reply", threadRootId: m1 });
  await mustSend(s.nc, "bob", "msg.react", { roomId, messageId: m1, emoji: "👍" });
  await mustSend(s.nc, "alice", "msg.edit", { roomId, messageId: m1, body: "hello again @bob" });
  const m3 = (await mustSend(s.nc, "bob", "msg.post", { roomId, body: "oops" })).result["messageId"] as string;
  const last = await mustSend(s.nc, "bob", "msg.delete", { roomId, messageId: m3 });
  await s.caughtUp(last.seq);

  const db = s.database.db;
  const rooms = await query(db, sql`SELECT room_id, name, kind, topic FROM natter_rooms.rooms`);
  expect(rooms).toEqual([{ room_id: roomId, name: "general", kind: "public", topic: "hi" }]);
  const members = await query(db, sql`SELECT user_id, role FROM natter_rooms.room_members ORDER BY user_id`);
  expect(members).toEqual([
    { user_id: "alice", role: "owner" },
    { user_id: "bob", role: "member" },
  ]);
  const timeline = await query<{
    message_id: string;
    body: string;
    deleted: boolean;
    reply_count: number;
    thread_root_id: string | null;
  }>(
    db,
    sql`SELECT message_id, body, deleted, reply_count, thread_root_id FROM natter_timeline.messages WHERE room_id = ${roomId} ORDER BY seq`,
  );
  expect(timeline.map((m) => [m.body, m.deleted, m.reply_count])).toEqual([
    ["hello again @bob", false, 1],
    ["reply", false, 0],
    ["", true, 0],
  ]);
  expect(await query(db, sql`SELECT previous_body, body FROM natter_timeline.message_edits`)).toEqual([
    { previous_body: "hello @bob", body: "hello again @bob" },
  ]);
  expect(await query(db, sql`SELECT emoji, user_id FROM natter_timeline.reactions`)).toEqual([
    { emoji: "👍", user_id: "bob" },
  ]);
  expect(await query(db, sql`SELECT user_id FROM natter_timeline.thread_participants ORDER BY user_id`)).toEqual([
    { user_id: "alice" },
    { user_id: "bob" },
  ]);
  expect(await query(db, sql`SELECT user_id, message_id FROM natter_timeline.mentions`)).toEqual([
    { user_id: "bob", message_id: m1 },
  ]);
  const audit = await query<{ type: string; actor: string }>(
    db,
    sql`SELECT type, actor FROM natter_audit.event_log ORDER BY seq`,
  );
  expect(audit.map((a) => a.type)).toEqual([
    "RoomCreated",
    "MemberJoined",
    "MessagePosted",
    "MessagePosted",
    "ReactionAdded",
    "MessageEdited",
    "MessagePosted",
    "MessageDeleted",
  ]);

  const membersKv = await (await import("../streams/index.ts")).ensureBuckets(s.nc);
  expect((await membersKv.members.get(`${roomId}.bob`))?.json()).toMatchObject({ role: "member" });
  expect((await membersKv.user_rooms.get(`alice.${roomId}`))?.json()).toMatchObject({ role: "owner" });
});

import { sql, type SQL } from "drizzle-orm";
import { NotFoundError } from "../domain/index.ts";
import { query, type Db } from "../projections/index.ts";
import { readableRoom, type Caller } from "./access.ts";
import type { Input, Message, Output } from "./schemas.ts";

/** A message row with its reactions folded in, as SQL returns it. */
type MessageRow = {
  message_id: string;
  room_id: string;
  seq: string | number;
  author_id: string;
  body: string;
  posted_at: Date | string;
  edited_at: Date | string | null;
  deleted: boolean;
  reactions: { emoji: string; count: number; userIds: string[]; seqs: number[] }[] | string;
  thread_root_id: string | null;
  reply_count: number;
  last_reply_at: Date | string | null;
  updated_seq: string | number;
};

/** A timestamp from the driver (a Date from node-postgres, a string or Date from PGlite) as ISO 8601. */
export const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

/** The columns of a message view, reactions grouped per emoji in the order they were first given. */
const MESSAGE_COLUMNS = sql.raw(`m.message_id, m.room_id, m.seq, m.author_id, m.body, m.posted_at, m.edited_at, m.deleted,
  m.thread_root_id, m.reply_count, m.last_reply_at, m.updated_seq,
  COALESCE((SELECT json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'userIds', x.users, 'seqs', x.seqs) ORDER BY x.first)
            FROM (SELECT emoji, count(*)::int AS n, json_agg(user_id ORDER BY seq) AS users, json_agg(seq ORDER BY seq) AS seqs, min(seq) AS first
                  FROM natter_timeline.reactions r WHERE r.room_id = m.room_id AND r.message_id = m.message_id
                  GROUP BY emoji) x), '[]'::json) AS reactions`);

function messageOf(r: MessageRow): Message {
  return {
    messageId: r.message_id,
    roomId: r.room_id,
    seq: Number(r.seq),
    authorId: r.author_id,
    body: r.body,
    postedAt: iso(r.posted_at),
    editedAt: r.edited_at === null ? null : iso(r.edited_at),
    deleted: r.deleted,
    reactions: typeof r.reactions === "string" ? JSON.parse(r.reactions) : r.reactions,
    threadRootId: r.thread_root_id,
    replyCount: r.reply_count,
    lastReplyAt: r.last_reply_at === null ? null : iso(r.last_reply_at),
    updatedSeq: Number(r.updated_seq),
  };
}

async function messages(db: Db, where: SQL, order: "ASC" | "DESC", limit: number): Promise<Message[]> {
  const rows = await query<MessageRow>(
    db,
    sql`SELECT ${MESSAGE_COLUMNS} FROM natter_timeline.messages m WHERE ${where} ORDER BY m.seq ${sql.raw(order)} LIMIT ${limit}`,
  );
  return rows.map(messageOf);
}

async function exists(db: Db, where: SQL): Promise<boolean> {
  // Ordered by seq so the planner probes the (room_id, seq) index instead of scanning the room.
  const rows = await query(db, sql`SELECT 1 FROM natter_timeline.messages m WHERE ${where} ORDER BY m.seq LIMIT 1`);
  return rows.length > 0;
}

/** The sequence of a message's post, or not_found when the room has no such message. */
async function seqOfMessage(db: Db, roomId: string, messageId: string): Promise<number> {
  const rows = await query<{ seq: string | number }>(db, sql`SELECT seq FROM natter_timeline.messages WHERE room_id = ${roomId} AND message_id = ${messageId}`);
  if (rows[0] === undefined) throw new NotFoundError(`no message ${messageId} in room ${roomId}`, { details: { roomId, messageId } });
  return Number(rows[0].seq);
}

/**
 * A page of a room's timeline (thread replies are in their threads), oldest first: the latest
 * `limit`, or those before or after a sequence, or centred on a message.
 */
export async function timelinePage(db: Db, caller: Caller, q: Input<"messages">): Promise<Output<"messages">> {
  await readableRoom(db, caller, q.roomId);
  const inRoom = sql`m.room_id = ${q.roomId} AND m.thread_root_id IS NULL`;
  if (q.around !== undefined) {
    const at = await seqOfMessage(db, q.roomId, q.around);
    const half = Math.floor(q.limit / 2);
    const [before, after] = await Promise.all([
      messages(db, sql`${inRoom} AND m.seq < ${at}`, "DESC", half + 1),
      messages(db, sql`${inRoom} AND m.seq >= ${at}`, "ASC", q.limit - half + 1),
    ]);
    return {
      messages: [...before.slice(0, half).reverse(), ...after.slice(0, q.limit - half)],
      hasBefore: before.length > half,
      hasAfter: after.length > q.limit - half,
    };
  }
  if (q.after !== undefined) {
    const [page, earlier] = await Promise.all([messages(db, sql`${inRoom} AND m.seq > ${q.after}`, "ASC", q.limit + 1), exists(db, sql`${inRoom} AND m.seq <= ${q.after}`)]);
    return { messages: page.slice(0, q.limit), hasBefore: earlier, hasAfter: page.length > q.limit };
  }
  const cond = q.before === undefined ? inRoom : sql`${inRoom} AND m.seq < ${q.before}`;
  const [page, later] = await Promise.all([
    messages(db, cond, "DESC", q.limit + 1),
    q.before === undefined ? Promise.resolve(false) : exists(db, sql`${inRoom} AND m.seq >= ${q.before}`),
  ]);
  return { messages: page.slice(0, q.limit).reverse(), hasBefore: page.length > q.limit, hasAfter: later };
}

/**
 * Every message of the room (thread replies included) posted or changed after `after`, in the
 * order of their last change, with the timeline's checkpoint read in the same snapshot: the
 * answer holds everything up to `seq`, so a reconnecting client applies live events above it.
 */
export async function changesSince(db: Db, caller: Caller, q: Input<"changes">): Promise<Output<"changes">> {
  await readableRoom(db, caller, q.roomId);
  return db.transaction(
    async (tx) => {
      const cp = await query<{ seq: string | number }>(tx, sql`SELECT seq FROM natter_timeline.checkpoint WHERE projection = 'timeline'`);
      const checkpoint = Number(cp[0]?.seq ?? 0);
      const rows = await query<MessageRow>(
        tx,
        sql`SELECT ${MESSAGE_COLUMNS} FROM natter_timeline.messages m
            WHERE m.room_id = ${q.roomId} AND m.updated_seq > ${q.after}
            ORDER BY m.updated_seq ASC LIMIT ${q.limit + 1}`,
      );
      const more = rows.length > q.limit;
      const list = rows.slice(0, q.limit).map(messageOf);
      // Cut short, the answer holds everything up to the last change it carries.
      return { messages: list, seq: more ? list.at(-1)!.updatedSeq : Math.max(checkpoint, q.after), more };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
}

/** A thread: its root, its replies oldest first, and who takes part. */
export async function threadOf(db: Db, caller: Caller, q: Input<"thread">): Promise<Output<"thread">> {
  await readableRoom(db, caller, q.roomId);
  const [root] = await messages(db, sql`m.room_id = ${q.roomId} AND m.message_id = ${q.messageId}`, "ASC", 1);
  if (root === undefined || root.threadRootId !== null) throw new NotFoundError(`no thread ${q.messageId} in room ${q.roomId}`, { details: { roomId: q.roomId, messageId: q.messageId } });
  const [replies, people] = await Promise.all([
    messages(db, sql`m.room_id = ${q.roomId} AND m.thread_root_id = ${q.messageId}`, "ASC", 10_000),
    query<{ user_id: string }>(db, sql`SELECT user_id FROM natter_timeline.thread_participants WHERE room_id = ${q.roomId} AND root_id = ${q.messageId} ORDER BY since_seq`),
  ]);
  return { root, replies, participants: people.map((p) => p.user_id) };
}

/** A message's edits, oldest first. */
export async function editHistory(db: Db, caller: Caller, q: Input<"history">): Promise<Output<"history">> {
  await readableRoom(db, caller, q.roomId);
  await seqOfMessage(db, q.roomId, q.messageId);
  const rows = await query<{ seq: string | number; body: string; previous_body: string; edited_by: string; edited_at: Date | string }>(
    db,
    sql`SELECT seq, body, previous_body, edited_by, edited_at FROM natter_timeline.message_edits WHERE room_id = ${q.roomId} AND message_id = ${q.messageId} ORDER BY seq`,
  );
  return { edits: rows.map((r) => ({ seq: Number(r.seq), body: r.body, previousBody: r.previous_body, editedBy: r.edited_by, editedAt: iso(r.edited_at) })) };
}

export { seqOfMessage };

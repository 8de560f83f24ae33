import { sql, type SQL } from "drizzle-orm";
import { NotFoundError } from "../domain/index.ts";
import { query, type Db } from "../projections/index.ts";
import { accessFrom, accessRow, readableRoom, type Caller } from "./access.ts";
import type { Input, Message, Output } from "./schemas.ts";
import type { TimelineCache, TimelineWindow, WindowFetch } from "./timelineCache.ts";

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
const MESSAGE_COLUMNS =
  sql.raw(`m.message_id, m.room_id, m.seq, m.author_id, m.body, m.posted_at, m.edited_at, m.deleted,
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

/** The sequence of a message's post, or not_found when the room has no such message. */
async function seqOfMessage(db: Db, roomId: string, messageId: string): Promise<number> {
  const rows = await query<{ seq: string | number }>(
    db,
    sql`SELECT seq FROM natter_timeline.messages WHERE room_id = ${roomId} AND message_id = ${messageId}`,
  );
  if (rows[0] === undefined)
    throw new NotFoundError(`no message ${messageId} in room ${roomId}`, { details: { roomId, messageId } });
  return Number(rows[0].seq);
}

/** A window of a room's top-level timeline around `p` (see TimelineWindow), read from the database. */
async function fetchWindow(
  db: Db,
  roomId: string,
  p: number,
  nBefore: number,
  nAfter: number,
): Promise<TimelineWindow> {
  const inRoom = sql`m.room_id = ${roomId} AND m.thread_root_id IS NULL`;
  const [before, after] = await Promise.all([
    nBefore === 0 ? [] : messages(db, p === Infinity ? inRoom : sql`${inRoom} AND m.seq < ${p}`, "DESC", nBefore),
    nAfter === 0 || p === Infinity ? [] : messages(db, sql`${inRoom} AND m.seq >= ${p}`, "ASC", nAfter),
  ]);
  return { before: before.reverse(), after };
}

/**
 * A page of a room's timeline (thread replies are in their threads), oldest first: the latest
 * `limit`, or those before or after a sequence, or centred on a message. With a cache, the access
 * check and the page come from it where it holds them.
 */
export async function timelinePage(
  db: Db,
  caller: Caller,
  q: Input<"messages">,
  cache?: TimelineCache,
): Promise<Output<"messages">> {
  const load = () => accessRow(db, caller, q.roomId);
  accessFrom(
    cache === undefined
      ? await load()
      : await cache.access(q.roomId, `${caller.admin ? "admin" : "user"}:${caller.userId}`, load),
    caller,
    q.roomId,
  );
  const fetch: WindowFetch = (p, nb, na) => fetchWindow(db, q.roomId, p, nb, na);
  const window = (p: number, nb: number, na: number) =>
    cache === undefined ? fetch(p, nb, na) : cache.window(q.roomId, p, nb, na, fetch);
  const last = (list: Message[], n: number) => list.slice(Math.max(0, list.length - n));
  if (q.around !== undefined) {
    const at = await seqOfMessage(db, q.roomId, q.around);
    const half = Math.floor(q.limit / 2);
    const { before, after } = await window(at, half + 1, q.limit - half + 1);
    return {
      messages: [...last(before, half), ...after.slice(0, q.limit - half)],
      hasBefore: before.length > half,
      hasAfter: after.length > q.limit - half,
    };
  }
  if (q.after !== undefined) {
    const { before, after } = await window(q.after + 1, 1, q.limit + 1);
    return { messages: after.slice(0, q.limit), hasBefore: before.length > 0, hasAfter: after.length > q.limit };
  }
  const { before, after } = await window(q.before ?? Infinity, q.limit + 1, q.before === undefined ? 0 : 1);
  return { messages: last(before, q.limit), hasBefore: before.length > q.limit, hasAfter: after.length > 0 };
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
      const cp = await query<{ seq: string | number }>(
        tx,
        sql`SELECT seq FROM natter_timeline.checkpoint WHERE projection = 'timeline'`,
      );
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
  if (root === undefined || root.threadRootId !== null)
    throw new NotFoundError(`no thread ${q.messageId} in room ${q.roomId}`, {
      details: { roomId: q.roomId, messageId: q.messageId },
    });
  const [replies, people] = await Promise.all([
    messages(db, sql`m.room_id = ${q.roomId} AND m.thread_root_id = ${q.messageId}`, "ASC", 10_000),
    query<{ user_id: string }>(
      db,
      sql`SELECT user_id FROM natter_timeline.thread_participants WHERE room_id = ${q.roomId} AND root_id = ${q.messageId} ORDER BY since_seq`,
    ),
  ]);
  return { root, replies, participants: people.map((p) => p.user_id) };
}

/** A message's edits, oldest first. */
export async function editHistory(db: Db, caller: Caller, q: Input<"history">): Promise<Output<"history">> {
  await readableRoom(db, caller, q.roomId);
  await seqOfMessage(db, q.roomId, q.messageId);
  const rows = await query<{
    seq: string | number;
    body: string;
    previous_body: string;
    edited_by: string;
    edited_at: Date | string;
  }>(
    db,
    sql`SELECT seq, body, previous_body, edited_by, edited_at FROM natter_timeline.message_edits WHERE room_id = ${q.roomId} AND message_id = ${q.messageId} ORDER BY seq`,
  );
  return {
    edits: rows.map((r) => ({
      seq: Number(r.seq),
      body: r.body,
      previousBody: r.previous_body,
      editedBy: r.edited_by,
      editedAt: iso(r.edited_at),
    })),
  };
}

export { seqOfMessage };

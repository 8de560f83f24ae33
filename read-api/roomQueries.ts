import { sql } from "drizzle-orm";
import type { RoomKind, RoomRole } from "../domain/index.ts";
import { query, type Db } from "../projections/index.ts";
import { noSuchRoom, readableRoom, readableRoomsCondition, type Caller } from "./access.ts";
import type { Input, Output } from "./schemas.ts";
import { iso } from "./timelineQueries.ts";

type RoomRow = { room_id: string; name: string; kind: RoomKind; topic: string; archived: boolean };
const summary = (r: RoomRow) => ({
  roomId: r.room_id,
  name: r.name,
  kind: r.kind,
  topic: r.topic,
  archived: r.archived,
});

/**
 * The caller's rooms with their unread counts: messages after the caller's read marker that others
 * posted and that are not deleted (thread replies count in their threads, not here), and mentions
 * of the caller after it; and the open invitations to the caller, with the rooms' names (an
 * invitation is what lets someone know a private room exists).
 */
export async function myRooms(db: Db, caller: Caller): Promise<Output<"rooms">> {
  const rows = await query<
    RoomRow & {
      role: RoomRole;
      read_seq: string | number;
      unread: string | number;
      mentions: string | number;
      last_seq: string | number | null;
    }
  >(
    db,
    sql`SELECT r.room_id, r.name, r.kind, r.topic, r.archived, m.role, COALESCE(rm.seq, 0) AS read_seq,
          (SELECT count(*) FROM natter_timeline.messages t
            WHERE t.room_id = r.room_id AND t.seq > COALESCE(rm.seq, 0) AND t.thread_root_id IS NULL
              AND NOT t.deleted AND t.author_id <> ${caller.userId}) AS unread,
          (SELECT count(*) FROM natter_timeline.mentions x
            WHERE x.user_id = ${caller.userId} AND x.room_id = r.room_id AND x.seq > COALESCE(rm.seq, 0)) AS mentions,
          (SELECT max(t.seq) FROM natter_timeline.messages t WHERE t.room_id = r.room_id AND t.thread_root_id IS NULL) AS last_seq
        FROM natter_rooms.room_members m
        JOIN natter_rooms.rooms r ON r.room_id = m.room_id
        LEFT JOIN natter_read.read_markers rm ON rm.user_id = m.user_id AND rm.room_id = m.room_id
        WHERE m.user_id = ${caller.userId}
        ORDER BY r.kind, lower(r.name), r.room_id`,
  );
  const invites = await query<RoomRow & { invited_by: string; invited_by_name: string | null; seq: string | number }>(
    db,
    sql`SELECT r.room_id, r.name, r.kind, r.topic, r.archived, i.invited_by, u.display_name AS invited_by_name, i.seq
        FROM natter_rooms.room_invites i
        JOIN natter_rooms.rooms r ON r.room_id = i.room_id
        LEFT JOIN natter_rooms.users u ON u.user_id = i.invited_by
        WHERE i.user_id = ${caller.userId} AND NOT r.archived
          AND NOT EXISTS (SELECT 1 FROM natter_rooms.room_members m WHERE m.room_id = i.room_id AND m.user_id = i.user_id)
        ORDER BY i.seq`,
  );
  return {
    invitations: invites.map((r) => ({
      ...summary(r),
      invitedBy: r.invited_by,
      invitedByName: r.invited_by_name,
      seq: Number(r.seq),
    })),
    rooms: rows.map((r) => ({
      ...summary(r),
      role: r.role,
      readSeq: Number(r.read_seq),
      unread: Number(r.unread),
      mentions: Number(r.mentions),
      lastSeq: Number(r.last_seq ?? 0),
    })),
  };
}

/** The public directory: public rooms not archived, with their member counts; a banned caller does not see the room. */
export async function publicRooms(db: Db, caller: Caller, q: Input<"roomsPublic">): Promise<Output<"roomsPublic">> {
  const rows = await query<RoomRow & { members: string | number }>(
    db,
    sql`SELECT r.room_id, r.name, r.kind, r.topic, r.archived,
          (SELECT count(*) FROM natter_rooms.room_members m WHERE m.room_id = r.room_id) AS members
        FROM natter_rooms.rooms r
        WHERE r.kind = 'public' AND NOT r.archived AND ${readableRoomsCondition(caller, sql.raw("r.room_id"))}
        ORDER BY lower(r.name), r.room_id LIMIT ${q.limit}`,
  );
  return { rooms: rows.map((r) => ({ ...summary(r), memberCount: Number(r.members) })) };
}

/** A room the caller may read, with its members and their room roles. */
export async function roomDetail(db: Db, caller: Caller, q: Input<"room">): Promise<Output<"room">> {
  await readableRoom(db, caller, q.roomId);
  const [rooms, members] = await Promise.all([
    query<RoomRow & { created_by: string; created_at: Date | string }>(
      db,
      sql`SELECT room_id, name, kind, topic, archived, created_by, created_at FROM natter_rooms.rooms WHERE room_id = ${q.roomId}`,
    ),
    query<{ user_id: string; display_name: string | null; role: RoomRole; joined_seq: string | number }>(
      db,
      sql`SELECT m.user_id, u.display_name, m.role, m.joined_seq FROM natter_rooms.room_members m
          LEFT JOIN natter_rooms.users u ON u.user_id = m.user_id
          WHERE m.room_id = ${q.roomId} ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'moderator' THEN 1 ELSE 2 END, m.joined_seq, m.user_id`,
    ),
  ]);
  const r = rooms[0]!;
  return {
    room: {
      ...summary(r),
      createdBy: r.created_by,
      createdAt: iso(r.created_at),
      members: members.map((m) => ({
        userId: m.user_id,
        displayName: m.display_name,
        role: m.role,
        joinedSeq: Number(m.joined_seq),
      })),
    },
  };
}

/**
 * The bans in force in a room, oldest first, for those who may lift them: its owners and
 * moderators, and admins. Anyone else is answered as for a room that does not exist, whether or
 * not they may read the room (who is banned is the moderators' business).
 */
export async function roomBans(db: Db, caller: Caller, q: Input<"bans">): Promise<Output<"bans">> {
  const access = await readableRoom(db, caller, q.roomId);
  if (!caller.admin && access.role !== "owner" && access.role !== "moderator") throw noSuchRoom(q.roomId);
  const rows = await query<{
    user_id: string;
    display_name: string | null;
    banned_by: string;
    reason: string | null;
    seq: string | number;
  }>(
    db,
    sql`SELECT b.user_id, u.display_name, b.banned_by, b.reason, b.seq FROM natter_rooms.room_bans b
        LEFT JOIN natter_rooms.users u ON u.user_id = b.user_id
        WHERE b.room_id = ${q.roomId} ORDER BY b.seq, b.user_id`,
  );
  return {
    bans: rows.map((r) => ({
      userId: r.user_id,
      displayName: r.display_name,
      bannedBy: r.banned_by,
      reason: r.reason,
      seq: Number(r.seq),
    })),
  };
}

/**
 * Full-text search over the messages the caller may read (not deleted), best first. PostgreSQL
 * text search with the `simple` configuration (no stemming: chat is in many languages); the
 * highlight is HTML: the text escaped, each match in `<mark>`.
 */
export async function searchMessages(db: Db, caller: Caller, q: Input<"search">): Promise<Output<"search">> {
  if (q.roomId !== undefined) await readableRoom(db, caller, q.roomId);
  const rows = await query<{
    room_id: string;
    message_id: string;
    seq: string | number;
    author_id: string;
    posted_at: Date | string;
    rank: number;
    highlight: string;
  }>(
    db,
    sql`SELECT m.room_id, m.message_id, m.seq, m.author_id, m.posted_at, ts_rank(to_tsvector('simple', m.body), q) AS rank,
          ts_headline('simple', translate(m.body, E'\\x02\\x03', ''), q, 'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=24, MinWords=8') AS highlight
        FROM natter_timeline.messages m, websearch_to_tsquery('simple', ${q.q}) q
        WHERE to_tsvector('simple', m.body) @@ q AND NOT m.deleted
          ${q.roomId === undefined ? sql`` : sql`AND m.room_id = ${q.roomId}`}
          AND ${readableRoomsCondition(caller, sql.raw("m.room_id"))}
        ORDER BY rank DESC, m.seq DESC LIMIT ${q.limit}`,
  );
  return {
    hits: rows.map((r) => ({
      roomId: r.room_id,
      messageId: r.message_id,
      seq: Number(r.seq),
      authorId: r.author_id,
      postedAt: iso(r.posted_at),
      rank: Number(r.rank),
      highlight: escapeHtml(r.highlight).replaceAll("\u0002", "<mark>").replaceAll("\u0003", "</mark>"),
    })),
  };
}

/** Text made safe to put in HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/**
 * The people directory, for inviting and starting a DM: users with a display name that starts
 * with `q` (any case; or whose id is `q`), by name; or the users `ids` that have a name. A team's
 * members see each other.
 */
export async function findUsers(db: Db, q: Input<"users">): Promise<Output<"users">> {
  if (q.ids !== undefined) {
    const named = await query<{ user_id: string; display_name: string }>(
      db,
      sql`SELECT user_id, display_name FROM natter_rooms.users WHERE display_name IS NOT NULL AND user_id IN (${sql.join(
        q.ids.map((i) => sql`${i}`),
        sql`, `,
      )}) ORDER BY user_id`,
    );
    return { users: named.map((r) => ({ userId: r.user_id, displayName: r.display_name })) };
  }
  const prefix = `${q.q!.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = await query<{ user_id: string; display_name: string }>(
    db,
    sql`SELECT user_id, display_name FROM natter_rooms.users
        WHERE display_name IS NOT NULL AND (lower(display_name) LIKE ${prefix} OR user_id = ${q.q!})
        ORDER BY lower(display_name), user_id LIMIT ${q.limit}`,
  );
  return { users: rows.map((r) => ({ userId: r.user_id, displayName: r.display_name })) };
}

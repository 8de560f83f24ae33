import { sql } from "drizzle-orm";
import { NotFoundError, type RoomKind, type RoomRole } from "../domain/index.ts";
import { query, type Db } from "../projections/index.ts";

/** Who asks: the user id from the token or the NATS subject, and whether they act as admin. */
export type Caller = { readonly userId: string; readonly admin: boolean };

/** What the caller is to a room they may read. */
export type RoomAccess = { kind: RoomKind; archived: boolean; role: RoomRole | null };

/** What the database says of the caller and a room: its kind, and their role and ban in it. */
export type AccessRow = { kind: RoomKind; archived: boolean; role: RoomRole | null; banned: boolean };

/** The caller's access row for `roomId`, or undefined when there is no such room. */
export async function accessRow(db: Db, caller: Caller, roomId: string): Promise<AccessRow | undefined> {
  const rows = await query<AccessRow>(
    db,
    sql`SELECT r.kind, r.archived, m.role, (b.user_id IS NOT NULL) AS banned
        FROM natter_rooms.rooms r
        LEFT JOIN natter_rooms.room_members m ON m.room_id = r.room_id AND m.user_id = ${caller.userId}
        LEFT JOIN natter_rooms.room_bans b ON b.room_id = r.room_id AND b.user_id = ${caller.userId}
        WHERE r.room_id = ${roomId}`,
  );
  return rows[0];
}

/**
 * The caller's access from their row, or a NotFoundError when they may not read the room: a member
 * reads their rooms, anyone not banned reads a public room, an admin reads every room. A room the
 * caller may not read and a room that does not exist answer alike, so the answer says nothing of it.
 */
export function accessFrom(r: AccessRow | undefined, caller: Caller, roomId: string): RoomAccess {
  if (r === undefined || !(caller.admin || r.role !== null || (r.kind === "public" && !r.banned)))
    throw noSuchRoom(roomId);
  return { kind: r.kind, archived: r.archived, role: r.role };
}

/** The caller's access to `roomId`, or a NotFoundError when they may not read it (see accessFrom). */
export async function readableRoom(db: Db, caller: Caller, roomId: string): Promise<RoomAccess> {
  return accessFrom(await accessRow(db, caller, roomId), caller, roomId);
}

/** The one answer for a room that is missing or hidden from the caller. */
export const noSuchRoom = (roomId: string): NotFoundError =>
  new NotFoundError(`no room ${roomId}`, { details: { roomId } });

/**
 * The SQL condition "`<column>` is a room the caller may read", for queries over many rooms
 * (search). Admins read every room.
 */
export function readableRoomsCondition(caller: Caller, column: ReturnType<typeof sql.raw>) {
  if (caller.admin) return sql`TRUE`;
  return sql`(${column} IN (SELECT room_id FROM natter_rooms.room_members WHERE user_id = ${caller.userId})
      OR ${column} IN (SELECT room_id FROM natter_rooms.rooms WHERE kind = 'public'
                       AND room_id NOT IN (SELECT room_id FROM natter_rooms.room_bans WHERE user_id = ${caller.userId})))`;
}

/**
 * Of `userIds`, those the caller may know the presence of: themselves and the people they share
 * a room with as members. Admins may know everyone's.
 */
export async function visibleUsers(db: Db, caller: Caller, userIds: readonly string[]): Promise<string[]> {
  if (caller.admin || userIds.length === 0) return [...new Set(userIds)];
  const rows = await query<{ user_id: string }>(
    db,
    sql`SELECT DISTINCT other.user_id FROM natter_rooms.room_members me
        JOIN natter_rooms.room_members other ON other.room_id = me.room_id
        WHERE me.user_id = ${caller.userId} AND other.user_id IN (${sql.join(
          userIds.map((u) => sql`${u}`),
          sql`, `,
        )})`,
  );
  const shared = new Set(rows.map((r) => r.user_id));
  return [...new Set(userIds)].filter((u) => u === caller.userId || shared.has(u));
}

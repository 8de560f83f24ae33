import { and, eq, sql } from "drizzle-orm";
import { fileURLToPath } from "node:url";
import type { EventEnvelope } from "../../streams/index.ts";
import { ident, query, type Tx } from "../db.ts";
import { bySchema } from "../common.ts";
import type { PgProjection } from "../projection.ts";
import { roomsTables } from "./tables.ts";

type Tables = ReturnType<typeof roomsTables>;
const tablesFor: (schema: string) => Tables = bySchema(roomsTables);

/** Applies room and user events one statement at a time: they are few beside messages. */
async function applyRooms(tx: Tx, schema: string, events: readonly EventEnvelope[]): Promise<void> {
  const t = tablesFor(schema);
  const member = (roomId: string, userId: string) => and(eq(t.members.roomId, roomId), eq(t.members.userId, userId));
  const invite = (roomId: string, userId: string) => and(eq(t.invites.roomId, roomId), eq(t.invites.userId, userId));
  const touch = (roomId: string, seq: number) =>
    tx.update(t.rooms).set({ updatedSeq: seq }).where(eq(t.rooms.roomId, roomId));
  for (const e of events) {
    const ev = e.event;
    switch (ev.type) {
      case "RoomCreated": {
        const d = ev.data;
        await tx.insert(t.rooms).values({
          roomId: d.roomId,
          name: d.name,
          kind: d.kind,
          topic: d.topic,
          createdBy: d.createdBy,
          createdAt: e.time,
          createdSeq: e.seq,
          updatedSeq: e.seq,
        });
        if (d.members.length > 0) {
          await tx.insert(t.members).values(
            d.members.map((m) => ({
              roomId: d.roomId,
              userId: m.userId,
              role: m.role,
              joinedSeq: e.seq,
              joinedAt: e.time,
            })),
          );
        }
        break;
      }
      case "RoomRenamed":
        await tx
          .update(t.rooms)
          .set({ name: ev.data.name, updatedSeq: e.seq })
          .where(eq(t.rooms.roomId, ev.data.roomId));
        break;
      case "RoomTopicChanged":
        await tx
          .update(t.rooms)
          .set({ topic: ev.data.topic, updatedSeq: e.seq })
          .where(eq(t.rooms.roomId, ev.data.roomId));
        break;
      case "RoomArchived":
        await tx.update(t.rooms).set({ archived: true, updatedSeq: e.seq }).where(eq(t.rooms.roomId, ev.data.roomId));
        break;
      case "MemberJoined": {
        const d = ev.data;
        await tx
          .insert(t.members)
          .values({ roomId: d.roomId, userId: d.userId, role: d.role ?? "member", joinedSeq: e.seq, joinedAt: e.time })
          .onConflictDoNothing();
        await tx.delete(t.invites).where(invite(d.roomId, d.userId));
        await touch(d.roomId, e.seq);
        break;
      }
      case "MemberInvited": {
        const d = ev.data;
        await tx
          .insert(t.invites)
          .values({ roomId: d.roomId, userId: d.userId, invitedBy: d.invitedBy, seq: e.seq })
          .onConflictDoNothing();
        await touch(d.roomId, e.seq);
        break;
      }
      case "MemberLeft":
      case "MemberRemoved": {
        const d = ev.data;
        await tx.delete(t.members).where(member(d.roomId, d.userId));
        await tx.delete(t.invites).where(invite(d.roomId, d.userId));
        await touch(d.roomId, e.seq);
        break;
      }
      case "MemberBanned": {
        const d = ev.data;
        await tx.delete(t.members).where(member(d.roomId, d.userId));
        await tx.delete(t.invites).where(invite(d.roomId, d.userId));
        await tx
          .insert(t.bans)
          .values({ roomId: d.roomId, userId: d.userId, bannedBy: d.bannedBy, reason: d.reason ?? null, seq: e.seq })
          .onConflictDoNothing();
        await touch(d.roomId, e.seq);
        break;
      }
      case "MemberUnbanned":
        await tx.delete(t.bans).where(and(eq(t.bans.roomId, ev.data.roomId), eq(t.bans.userId, ev.data.userId)));
        await touch(ev.data.roomId, e.seq);
        break;
      case "MemberRoleChanged":
        await tx.update(t.members).set({ role: ev.data.role }).where(member(ev.data.roomId, ev.data.userId));
        await touch(ev.data.roomId, e.seq);
        break;
      case "UserProfileUpdated": {
        const d = ev.data;
        const set: Partial<Tables["users"]["$inferInsert"]> = { updatedSeq: e.seq };
        if (d.displayName !== undefined) set.chosenName = d.displayName;
        if (d.identityName !== undefined) set.identityName = d.identityName;
        if (d.language !== undefined) set.language = d.language;
        await tx
          .insert(t.users)
          .values({
            userId: d.userId,
            chosenName: d.displayName ?? null,
            identityName: d.identityName ?? null,
            language: d.language ?? null,
            updatedSeq: e.seq,
          })
          .onConflictDoUpdate({ target: t.users.userId, set });
        // The name every query shows: a chosen one wins over the identity's.
        await tx
          .update(t.users)
          .set({ displayName: sql`coalesce("chosen_name", "identity_name")` })
          .where(eq(t.users.userId, d.userId));
        break;
      }
      default:
        break;
    }
  }
}

/** Rooms (the public directory and each room's metadata), members with room roles, invitations, bans, user profiles. */
export const roomsProjection: PgProjection = {
  kind: "pg",
  name: "rooms",
  version: 1,
  liveSchema: "natter_rooms",
  migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)),
  filterSubjects: ["ev.room.>", "ev.user.>"],
  tables: [
    { name: "rooms", orderBy: "room_id" },
    { name: "room_members", orderBy: "room_id, user_id" },
    { name: "room_invites", orderBy: "room_id, user_id" },
    { name: "room_bans", orderBy: "room_id, user_id" },
    { name: "users", orderBy: "user_id" },
  ],
  apply: applyRooms,
  async check(db, schema) {
    const s = ident(schema);
    const dm = await query<{ n: number }>(
      db,
      sql`SELECT count(*)::int AS n FROM ${s}.rooms r WHERE r.kind = 'dm' AND (SELECT count(*) FROM ${s}.room_members m WHERE m.room_id = r.room_id) <> 2`,
    );
    const banned = await query<{ n: number }>(
      db,
      sql`SELECT count(*)::int AS n FROM ${s}.room_members m JOIN ${s}.room_bans b USING (room_id, user_id)`,
    );
    const problems: string[] = [];
    if ((dm[0]?.n ?? 0) > 0) problems.push(`${dm[0]!.n} direct messages without exactly two members`);
    if ((banned[0]?.n ?? 0) > 0) problems.push(`${banned[0]!.n} banned users who are members`);
    return problems;
  },
};

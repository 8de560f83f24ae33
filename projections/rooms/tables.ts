import { bigint, boolean, index, pgSchema, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** The rooms read model's tables in the schema `name` (the live one is `natter_rooms`). */
export function roomsTables(name: string) {
  const s = pgSchema(name);
  const seq = (column: string) => bigint(column, { mode: "number" });
  return {
    schema: s,
    /** Every room: the public directory and each room's metadata. */
    rooms: s.table("rooms", {
      roomId: text("room_id").primaryKey(),
      name: text("name").notNull(),
      kind: text("kind").notNull(),
      topic: text("topic").notNull(),
      archived: boolean("archived").notNull().default(false),
      createdBy: text("created_by").notNull(),
      createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull(),
      createdSeq: seq("created_seq").notNull(),
      updatedSeq: seq("updated_seq").notNull(),
    }),
    /** Members with their room roles. */
    members: s.table(
      "room_members",
      {
        roomId: text("room_id").notNull(),
        userId: text("user_id").notNull(),
        role: text("role").notNull(),
        joinedSeq: seq("joined_seq").notNull(),
        joinedAt: timestamp("joined_at", { withTimezone: true, mode: "string" }).notNull(),
      },
      // By user: a user's rooms (the read API's /api/rooms).
      (t) => [primaryKey({ columns: [t.roomId, t.userId] }), index("room_members_user").on(t.userId)],
    ),
    /** Open invitations. */
    invites: s.table(
      "room_invites",
      {
        roomId: text("room_id").notNull(),
        userId: text("user_id").notNull(),
        invitedBy: text("invited_by").notNull(),
        seq: seq("seq").notNull(),
      },
      (t) => [primaryKey({ columns: [t.roomId, t.userId] })],
    ),
    /** Bans in force. */
    bans: s.table(
      "room_bans",
      {
        roomId: text("room_id").notNull(),
        userId: text("user_id").notNull(),
        bannedBy: text("banned_by").notNull(),
        reason: text("reason"),
        seq: seq("seq").notNull(),
      },
      (t) => [primaryKey({ columns: [t.roomId, t.userId] })],
    ),
    /** User profiles. */
    users: s.table("users", {
      userId: text("user_id").primaryKey(),
      /** The name shown: the one the user chose, else their identity's. */
      displayName: text("display_name"),
      /** The name the user chose (`user.profile`). */
      chosenName: text("chosen_name"),
      /** The name the user's identity gives (the token, recorded by the auth callout). */
      identityName: text("identity_name"),
      language: text("language"),
      updatedSeq: seq("updated_seq").notNull(),
    }),
  };
}

/** The live rooms tables (drizzle-kit generates the migrations from these). */
export const rooms = roomsTables("natter_rooms");

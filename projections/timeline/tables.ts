import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, pgSchema, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** The timeline read model's tables in the schema `name` (the live one is `natter_timeline`). */
export function timelineTables(name: string) {
  const s = pgSchema(name);
  const seq = (column: string) => bigint(column, { mode: "number" });
  return {
    schema: s,
    /** One row per message, ordered by the stream sequence of its post. */
    messages: s.table(
      "messages",
      {
        roomId: text("room_id").notNull(),
        messageId: text("message_id").notNull(),
        seq: seq("seq").notNull(),
        authorId: text("author_id").notNull(),
        /** Empty once deleted: a deleted message keeps its place, not its body. */
        body: text("body").notNull(),
        threadRootId: text("thread_root_id"),
        replyCount: integer("reply_count").notNull().default(0),
        lastReplySeq: seq("last_reply_seq"),
        lastReplyAt: timestamp("last_reply_at", { withTimezone: true, mode: "string" }),
        postedAt: timestamp("posted_at", { withTimezone: true, mode: "string" }).notNull(),
        editedAt: timestamp("edited_at", { withTimezone: true, mode: "string" }),
        deleted: boolean("deleted").notNull().default(false),
        deletedBy: text("deleted_by"),
        updatedSeq: seq("updated_seq").notNull(),
      },
      (t) => [
        primaryKey({ columns: [t.roomId, t.messageId] }),
        index("messages_room_seq").on(t.roomId, t.seq),
        index("messages_thread").on(t.roomId, t.threadRootId, t.seq),
        index("messages_room_updated").on(t.roomId, t.updatedSeq),
        // Full-text search (the read API's /api/search): the `simple` configuration, no stemming.
        index("messages_body_search").using("gin", sql`to_tsvector('simple', ${t.body})`),
      ],
    ),
    /** A message's earlier bodies, one row per edit. */
    edits: s.table(
      "message_edits",
      {
        roomId: text("room_id").notNull(),
        messageId: text("message_id").notNull(),
        seq: seq("seq").notNull(),
        body: text("body").notNull(),
        previousBody: text("previous_body").notNull(),
        editedBy: text("edited_by").notNull(),
        editedAt: timestamp("edited_at", { withTimezone: true, mode: "string" }).notNull(),
      },
      (t) => [primaryKey({ columns: [t.roomId, t.messageId, t.seq] })],
    ),
    /** Who reacted with what. */
    reactions: s.table(
      "reactions",
      {
        roomId: text("room_id").notNull(),
        messageId: text("message_id").notNull(),
        emoji: text("emoji").notNull(),
        userId: text("user_id").notNull(),
        seq: seq("seq").notNull(),
      },
      (t) => [primaryKey({ columns: [t.roomId, t.messageId, t.emoji, t.userId] })],
    ),
    /** The people in a thread: its root's author and everyone who replied. */
    threadParticipants: s.table(
      "thread_participants",
      {
        roomId: text("room_id").notNull(),
        rootId: text("root_id").notNull(),
        userId: text("user_id").notNull(),
        sinceSeq: seq("since_seq").notNull(),
      },
      (t) => [primaryKey({ columns: [t.roomId, t.rootId, t.userId] })],
    ),
    /** Mentions per user, newest last. */
    mentions: s.table(
      "mentions",
      {
        userId: text("user_id").notNull(),
        roomId: text("room_id").notNull(),
        messageId: text("message_id").notNull(),
        seq: seq("seq").notNull(),
      },
      (t) => [
        primaryKey({ columns: [t.userId, t.roomId, t.messageId] }),
        index("mentions_user_seq").on(t.userId, t.seq),
      ],
    ),
    /** Machine translations of a message, per language. */
    translations: s.table(
      "translations",
      {
        roomId: text("room_id").notNull(),
        messageId: text("message_id").notNull(),
        language: text("language").notNull(),
        body: text("body").notNull(),
        seq: seq("seq").notNull(),
      },
      (t) => [primaryKey({ columns: [t.roomId, t.messageId, t.language] })],
    ),
  };
}

/** The live timeline tables (drizzle-kit generates the migrations from these). */
export const timeline = timelineTables("natter_timeline");

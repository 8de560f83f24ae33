import { z } from "zod";
import { MessageId, RoomId, UserId } from "../ids.ts";

const roomId = RoomId.schema;
const messageId = MessageId.schema;
const userId = UserId.schema;

const event = <T extends string, D extends z.ZodRawShape>(type: T, data: D) =>
  z.object({ type: z.literal(type), data: z.object(data) });

export const MessagePosted = event("MessagePosted", {
  roomId,
  messageId,
  authorId: userId,
  body: z.string(),
  threadRootId: messageId.optional(),
  mentions: z.array(userId),
});
export type MessagePosted = z.infer<typeof MessagePosted>;

export const MessageEdited = event("MessageEdited", {
  roomId,
  messageId,
  body: z.string(),
  previousBody: z.string(),
  editedBy: userId,
});
export type MessageEdited = z.infer<typeof MessageEdited>;

export const MessageDeleted = event("MessageDeleted", {
  roomId,
  messageId,
  deletedBy: userId,
  reason: z.string().optional(),
});
export type MessageDeleted = z.infer<typeof MessageDeleted>;

export const ReactionAdded = event("ReactionAdded", { roomId, messageId, emoji: z.string(), userId });
export type ReactionAdded = z.infer<typeof ReactionAdded>;

export const ReactionRemoved = event("ReactionRemoved", { roomId, messageId, emoji: z.string(), userId });
export type ReactionRemoved = z.infer<typeof ReactionRemoved>;

export const MessageTranslated = event("MessageTranslated", {
  roomId,
  messageId,
  language: z.string(),
  body: z.string(),
});
export type MessageTranslated = z.infer<typeof MessageTranslated>;

export const MessageEvent = z.discriminatedUnion("type", [
  MessagePosted,
  MessageEdited,
  MessageDeleted,
  ReactionAdded,
  ReactionRemoved,
  MessageTranslated,
]);
export type MessageEvent = z.infer<typeof MessageEvent>;

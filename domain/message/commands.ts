import { z } from "zod";
import { MessageId, RoomId, UserId } from "../ids.ts";
import { NUL_REFUSED, fitsStores } from "../decider.ts";
import type { CommandMeta } from "../metadata.ts";

/** Longest message body, in characters (UTF-16 code units, as JavaScript counts them). */
export const MAX_BODY = 8000;
/** Longest reaction: one emoji sequence or a `:shortcode:`. */
export const MAX_EMOJI = 64;
/** Most users one message may mention. */
export const MAX_MENTIONS = 50;

const roomId = RoomId.schema;
const messageId = MessageId.schema;
const body = z
  .string()
  .max(MAX_BODY, { error: `body must be at most ${MAX_BODY} characters` })
  .refine((s) => s.trim().length > 0, { error: "body must not be empty" })
  .refine(fitsStores, NUL_REFUSED);
const emoji = z
  .string()
  .min(1)
  .max(MAX_EMOJI)
  .refine((s) => !/\s/.test(s), { error: "emoji must not contain white space" })
  .refine(fitsStores, NUL_REFUSED);

/** The bodies of the message commands, besides `commandId`, keyed by action. */
export const messageCommandBodies = {
  post: z.strictObject({
    roomId,
    body,
    messageId: messageId.optional(),
    threadRootId: messageId.optional(),
    mentions: z.array(UserId.schema).max(MAX_MENTIONS).optional(),
  }),
  edit: z.strictObject({ roomId, messageId, body }),
  delete: z.strictObject({ roomId, messageId, reason: z.string().max(500).refine(fitsStores, NUL_REFUSED).optional() }),
  react: z.strictObject({ roomId, messageId, emoji }),
  unreact: z.strictObject({ roomId, messageId, emoji }),
} as const;

type Bodies = typeof messageCommandBodies;
export type MessageAction = keyof Bodies;

/** A message command: its action, its validated body, and who issues it. */
export type MessageCommand = {
  [A in MessageAction]: { readonly type: A; readonly data: z.infer<Bodies[A]>; readonly meta: CommandMeta };
}[MessageAction];

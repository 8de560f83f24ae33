import { z } from "zod";
import { RoomId, UserId } from "../ids.ts";
import { NUL_REFUSED, fitsStores } from "../decider.ts";
import type { CommandMeta } from "../metadata.ts";
import { ROOM_ROLES } from "../policy.ts";
import { ROOM_KINDS } from "./events.ts";

/** Longest room name, in characters. */
export const MAX_ROOM_NAME = 80;
/** Longest room topic, in characters. */
export const MAX_TOPIC = 500;
/** Most members a room can be created with. */
export const MAX_INITIAL_MEMBERS = 1000;

const roomId = RoomId.schema;
const userId = UserId.schema;
const name = z
  .string()
  .trim()
  .min(1, { error: "name must not be empty" })
  .max(MAX_ROOM_NAME)
  .refine(fitsStores, NUL_REFUSED);
const topic = z.string().trim().max(MAX_TOPIC).refine(fitsStores, NUL_REFUSED);
const reason = z.string().trim().max(500).refine(fitsStores, NUL_REFUSED).optional();

/** The bodies of the room commands, besides `commandId`, keyed by action. */
export const roomCommandBodies = {
  create: z.strictObject({
    name,
    kind: z.enum(ROOM_KINDS),
    roomId: roomId.optional(),
    topic: topic.optional(),
    members: z.array(userId).max(MAX_INITIAL_MEMBERS).optional(),
  }),
  join: z.strictObject({ roomId }),
  leave: z.strictObject({ roomId }),
  invite: z.strictObject({ roomId, userId, reason }),
  remove: z.strictObject({ roomId, userId, reason }),
  ban: z.strictObject({ roomId, userId, reason }),
  unban: z.strictObject({ roomId, userId, reason }),
  rename: z.strictObject({ roomId, name }),
  topic: z.strictObject({ roomId, topic }),
  role: z.strictObject({ roomId, userId, role: z.enum(ROOM_ROLES) }),
  archive: z.strictObject({ roomId }),
} as const;

type Bodies = typeof roomCommandBodies;
export type RoomAction = keyof Bodies;

/** A room command: its action, its validated body, and who issues it. */
export type RoomCommand = {
  [A in RoomAction]: { readonly type: A; readonly data: z.infer<Bodies[A]>; readonly meta: CommandMeta };
}[RoomAction];

import { z } from "zod";
import { RoomId, UserId } from "../ids.ts";
import { ROOM_ROLES } from "../policy.ts";

export const ROOM_KINDS = ["public", "private", "dm"] as const;
export type RoomKind = (typeof ROOM_KINDS)[number];

const roomId = RoomId.schema;
const userId = UserId.schema;
const role = z.enum(ROOM_ROLES);
const reason = z.string().max(500).optional();

const event = <T extends string, D extends z.ZodRawShape>(type: T, data: D) =>
  z.object({ type: z.literal(type), data: z.object(data) });

export const RoomCreated = event("RoomCreated", {
  roomId,
  name: z.string(),
  kind: z.enum(ROOM_KINDS),
  topic: z.string(),
  createdBy: userId,
  members: z.array(z.object({ userId, role })),
});
export type RoomCreated = z.infer<typeof RoomCreated>;

export const RoomRenamed = event("RoomRenamed", { roomId, name: z.string(), previousName: z.string() });
export type RoomRenamed = z.infer<typeof RoomRenamed>;

export const RoomTopicChanged = event("RoomTopicChanged", { roomId, topic: z.string(), previousTopic: z.string() });
export type RoomTopicChanged = z.infer<typeof RoomTopicChanged>;

/** `role` is absent for a plain member; `owner` when the joiner takes over a room its owners left. */
export const MemberJoined = event("MemberJoined", { roomId, userId, role: role.optional() });
export type MemberJoined = z.infer<typeof MemberJoined>;

export const MemberInvited = event("MemberInvited", { roomId, userId, invitedBy: userId, reason });
export type MemberInvited = z.infer<typeof MemberInvited>;

export const MemberLeft = event("MemberLeft", { roomId, userId });
export type MemberLeft = z.infer<typeof MemberLeft>;

export const MemberRemoved = event("MemberRemoved", { roomId, userId, removedBy: userId, reason });
export type MemberRemoved = z.infer<typeof MemberRemoved>;

export const MemberBanned = event("MemberBanned", { roomId, userId, bannedBy: userId, reason });
export type MemberBanned = z.infer<typeof MemberBanned>;

export const MemberUnbanned = event("MemberUnbanned", { roomId, userId, unbannedBy: userId, reason });
export type MemberUnbanned = z.infer<typeof MemberUnbanned>;

export const MemberRoleChanged = event("MemberRoleChanged", {
  roomId,
  userId,
  role,
  previousRole: role,
  changedBy: userId,
});
export type MemberRoleChanged = z.infer<typeof MemberRoleChanged>;

export const RoomArchived = event("RoomArchived", { roomId, archivedBy: userId });
export type RoomArchived = z.infer<typeof RoomArchived>;

export const RoomEvent = z.discriminatedUnion("type", [
  RoomCreated,
  RoomRenamed,
  RoomTopicChanged,
  MemberJoined,
  MemberInvited,
  MemberLeft,
  MemberRemoved,
  MemberBanned,
  MemberUnbanned,
  MemberRoleChanged,
  RoomArchived,
]);
export type RoomEvent = z.infer<typeof RoomEvent>;
export type RoomEventType = RoomEvent["type"];

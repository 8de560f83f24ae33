import { z } from "zod";

/**
 * An event as live delivery hands it to clients (docs/read-side.md): a stored event with its
 * stream sequence, or an ephemeral one (`Presence`, `Typing`) with `seq` 0, never stored.
 */
export const LiveEvent = z.object({
  /** The stream sequence of the stored event; 0 for an ephemeral one. */
  seq: z.number().int().nonnegative(),
  /** When it happened (the stream's timestamp for stored events), ISO 8601. */
  time: z.string(),
  /** `Natter-Type` of a stored event, or `Presence` / `Typing`. */
  type: z.string(),
  /** Who caused it. */
  actor: z.string(),
  roomId: z.string().optional(),
  messageId: z.string().optional(),
  /** The event's payload in its newest shape (upcast), or the ephemeral event's body. */
  payload: z.record(z.string(), z.unknown()),
});
export type LiveEvent = z.infer<typeof LiveEvent>;

/** A user's presence: `online` while any connection says so, `away` while all say away, else `offline`. */
export const PRESENCE_STATUSES = ["online", "away", "offline"] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

/** What a connection publishes on `presence.<userId>`: its heartbeat, or `offline` as its goodbye. */
export const PresenceHeartbeat = z.object({
  connectionId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  status: z.enum(PRESENCE_STATUSES),
});
export type PresenceHeartbeat = z.infer<typeof PresenceHeartbeat>;

/** The subjects of live delivery (docs/read-side.md). */
export const liveSubjects = {
  /** A public room's multicast. */
  room: (roomId: string) => `live.room.${roomId}`,
  /** A private room's or DM's events, to one member. */
  member: (userId: string, roomId: string) => `deliver.${userId}.room.${roomId}`,
  /** A thread reply, to one participant of the thread. */
  thread: (userId: string, roomId: string) => `deliver.${userId}.thread.${roomId}`,
  /** A message that mentions the user. */
  mention: (userId: string, roomId: string) => `deliver.${userId}.mention.${roomId}`,
  /** Events about the user: invited, removed, banned, role changed, joined, profile. */
  notice: (userId: string) => `deliver.${userId}.notice`,
  /** Where a connection sends its heartbeats. */
  presence: (userId: string) => `presence.${userId}`,
  /** Where a user says they are typing in a room. */
  typing: (userId: string, roomId: string) => `typing.${userId}.${roomId}`,
} as const;

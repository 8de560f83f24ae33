import type { NatsConnection } from "@nats-io/transport-node";
import { roomOfEventSubject } from "../streams/index.ts";

/** The subject on which a projector announces the checkpoint it committed. */
export const appliedSubject = (name: string): string => `natter.projection.${name}.applied`;

/**
 * What a projector announces on `appliedSubject` after each commit. `from` is the checkpoint the
 * batch started at, so a listener that saw an earlier `seq` below `from` knows it missed one (a
 * projector killed between its commit and its announcement). `rooms` are the rooms whose events the
 * batch held; null (or absent) means any room may have changed (a rebuild's swap, a parked event
 * applied by the replay CLI, a batch over many rooms).
 */
export type AppliedAnnouncement = { seq: number; pending?: number; from?: number; rooms?: string[] | null };
/** Above this many rooms an announcement says `rooms: null`. */
const MAX_ANNOUNCED_ROOMS = 1000;

/** Announces a committed checkpoint (see AppliedAnnouncement). */
export function announceApplied(nc: NatsConnection, name: string, a: AppliedAnnouncement): void {
  nc.publish(appliedSubject(name), JSON.stringify(a));
}

/** The rooms of a batch's subjects, for its announcement's `rooms`, or null when there are too many to list. */
export function announcedRooms(batch: readonly { subject: string }[]): string[] | null {
  const rooms = new Set<string>();
  for (const m of batch) {
    const r = roomOfEventSubject(m.subject);
    if (r !== null) rooms.add(r);
    if (rooms.size > MAX_ANNOUNCED_ROOMS) return null;
  }
  return [...rooms];
}

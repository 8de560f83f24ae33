import type { AggregateKind, DomainEvent } from "../domain/index.ts";
import { EVENTS } from "../domain/index.ts";

/** The stream that holds every event; the only source of truth. */
export const EVENT_STREAM = "CHAT_EVENTS";
/** The subjects of the event stream. */
export const EVENT_SUBJECTS = "ev.>";

/** The subject of a room's own events: `ev.room.<roomId>`. */
export const roomSubject = (roomId: string): string => `ev.room.${roomId}`;
/** The subject of one message's events: `ev.msg.<roomId>.<messageId>`. */
export const messageSubject = (roomId: string, messageId: string): string => `ev.msg.${roomId}.${messageId}`;
/** The filter of a room's timeline: `ev.msg.<roomId>.>`. */
export const timelineFilter = (roomId: string): string => `ev.msg.${roomId}.>`;
/** The subject of a user's profile events: `ev.user.<userId>`. */
export const userSubject = (userId: string): string => `ev.user.${userId}`;

/**
 * The room an event subject belongs to (`ev.room.<roomId>`, `ev.msg.<roomId>.<messageId>`), or null
 * for any other subject: a user's (`ev.user.<userId>`), one outside the event stream, one with an
 * empty room id.
 */
export function roomOfEventSubject(subject: string): string | null {
  const parts = subject.split(".");
  return parts[0] === "ev" && (parts[1] === "room" || parts[1] === "msg") && parts[2] !== undefined && parts[2] !== ""
    ? parts[2]
    : null;
}

/** The aggregate subject an event belongs on, from the ids in its payload. */
export function subjectOf(event: DomainEvent): string {
  const kind: AggregateKind = EVENTS[event.type].aggregate;
  const data = event.data as { roomId?: string; messageId?: string; userId?: string };
  switch (kind) {
    case "room":
      return roomSubject(data.roomId!);
    case "msg":
      return messageSubject(data.roomId!, data.messageId!);
    case "user":
      return userSubject(data.userId!);
  }
}

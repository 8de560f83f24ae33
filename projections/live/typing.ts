import type { NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { RoomId, UserId, type LiveEvent } from "../../domain/index.ts";
import type { LiveFanout, Stoppable } from "./fanout.ts";
import { mayPost } from "./roomCache.ts";

/** Where users say they are typing: `typing.<uid>.<roomId>` (NATS lets each publish only their own). */
export const TYPING_SUBJECTS = "typing.*.*";

/** How the typing relay runs. */
export type TypingOptions = {
  /** Where it logs (default: nowhere). */
  log?: Logger;
  /**
   * The shortest time between two relayed typing events of one user in one room (default 1,000 ms:
   * half the client's 2 s, so a client that starts typing again right after sending is not dropped).
   */
  intervalMs?: number;
};

/** The parts of the fan-out typing uses. */
export type TypingFanout = Pick<LiveFanout, "publishToRoom" | "room">;

/** The user and room of a typing subject, or undefined when it is not `typing.<uid>.<roomId>` with valid ids. */
export function parseTypingSubject(subject: string): { userId: UserId; roomId: RoomId } | undefined {
  const parts = subject.split(".");
  if (parts.length !== 3 || parts[0] !== "typing") return undefined;
  const [, userId, roomId] = parts;
  return UserId.is(userId) && RoomId.is(roomId) ? { userId, roomId } : undefined;
}

/**
 * Relays typing (docs/read-side.md, "Presence and typing"): subscribes to `typing.*.*` and, for a
 * message on `typing.<uid>.<roomId>` (its body is ignored), publishes a `Typing` live event
 * (`seq` 0, `actor` and `payload.userId` the user) to the room as its events go, when the user
 * may post there (the room exists, is not archived, and they are a member, as the fan-out knows
 * it) and at most once per user and room every `intervalMs`. Nothing is stored. Run it only in
 * the active fan-out (startLive does, as a LiveTask), or every instance would relay it.
 *
 * Every attempt, allowed or not, starts the user's interval in that room, so a flood from one
 * user costs one membership check per interval.
 */
export function startTyping(nc: NatsConnection, live: TypingFanout, options: TypingOptions = {}): Stoppable {
  const log = options.log ?? pino({ level: "silent" });
  const interval = options.intervalMs ?? 1000;
  // Keys in the order of their last attempt (re-inserted on each), so the oldest come first.
  const last = new Map<string, number>();

  const forget = (now: number) => {
    for (const [key, at] of last) {
      if (now - at < interval) break;
      last.delete(key);
    }
  };

  const relay = async (subject: string) => {
    const target = parseTypingSubject(subject);
    if (target === undefined) return;
    const { userId, roomId } = target;
    const key = `${userId}.${roomId}`;
    const now = Date.now();
    forget(now);
    if (last.has(key)) return;
    last.set(key, now);
    const state = await live.room(roomId);
    if (state === undefined || !mayPost(state, userId)) return;
    const event: LiveEvent = {
      seq: 0,
      time: new Date(now).toISOString(),
      type: "Typing",
      actor: userId,
      roomId,
      payload: { userId },
    };
    await live.publishToRoom(roomId, event);
  };

  const sub = nc.subscribe(TYPING_SUBJECTS, {
    callback: (err, m) => {
      if (err !== null) {
        log.warn({ err }, "typing subscription failed");
        return;
      }
      relay(m.subject).catch((e: unknown) => log.warn({ err: e, subject: m.subject }, "typing not relayed"));
    },
  });

  return {
    async stop() {
      sub.unsubscribe();
    },
  };
}

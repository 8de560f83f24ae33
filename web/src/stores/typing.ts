import { createStore, produce } from "solid-js/store";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Server } from "../server.ts";

/** How often the user's typing is said, at most (the server passes one per user and room every 2 s). */
export const TYPING_EVERY_MS = 2000;
/** How long someone is shown typing after their last `Typing` event. */
export const TYPING_SHOWN_MS = 4000;

/**
 * Typing indicators: says on `typing.<uid>.<roomId>` that the user is typing (at most every 2 s),
 * and shows who else is typing in each room for ~4 s after their last `Typing` live event.
 */
export function createTyping(deps: { server: Pick<Server, "typing">; me: string; now?: () => number }) {
  const now = deps.now ?? (() => Date.now());
  const [state, setState] = createStore<Record<string, Record<string, number>>>({});
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const lastSent = new Map<string, number>();

  const expire = (roomId: string, userId: string): void => {
    const key = `${roomId} ${userId}`;
    // A post ends the typing before its timer does: left running, it would hide the next typing early.
    clearTimeout(timers.get(key));
    timers.delete(key);
    setState(
      roomId,
      produce((r) => delete r[userId]),
    );
  };

  return {
    /** Who else is typing in a room, in the order they started. */
    typingIn: (roomId: string): string[] => Object.keys(state[roomId] ?? {}),
    /** The user typed in a room's composer: said at most every 2 s. */
    typed(roomId: string): void {
      const t = now();
      if (t - (lastSent.get(roomId) ?? -Infinity) < TYPING_EVERY_MS) return;
      if (deps.server.typing(roomId)) lastSent.set(roomId, t);
    },
    /** The user sent (or cleared) their message: the next keystroke says typing again. */
    stopped(roomId: string): void {
      lastSent.delete(roomId);
    },
    /** Applies a `Typing` live event (`{ userId }`); the user's own are ignored. */
    applyLive(e: LiveEvent): void {
      if (e.type === "MessagePosted" && e.roomId !== undefined) {
        // Someone who posted has stopped typing.
        const author = e.payload["authorId"];
        if (typeof author === "string" && state[e.roomId]?.[author] !== undefined) expire(e.roomId, author);
        return;
      }
      if (e.type !== "Typing" || e.roomId === undefined) return;
      const userId = e.payload["userId"] ?? e.actor;
      if (typeof userId !== "string" || userId === deps.me) return;
      const roomId = e.roomId;
      const key = `${roomId} ${userId}`;
      clearTimeout(timers.get(key));
      if (state[roomId] === undefined) setState(roomId, {});
      setState(roomId, userId, now());
      timers.set(
        key,
        setTimeout(() => expire(roomId, userId), TYPING_SHOWN_MS),
      );
    },
  };
}

export type Typing = ReturnType<typeof createTyping>;

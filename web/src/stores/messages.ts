import { createSignal } from "solid-js";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Server } from "../server.ts";
import type { Permissions } from "./permissions.ts";
import type { Rooms } from "./rooms.ts";
import { createThread, type Thread } from "./thread.ts";
import { createTimeline, type Timeline } from "./timeline.ts";
import type { RunCommand } from "./toasts.ts";
import type { Users } from "./users.ts";

/** Timelines kept in memory (and caught up after reconnects): the most recently opened rooms. */
const KEEP_TIMELINES = 8;

/**
 * The messages the client holds: the timelines of the rooms opened last, the open thread, and
 * the actions on messages (open a room or a thread, mark read, react, edit, delete).
 */
export function createMessages(deps: {
  server: Server;
  me: string;
  rooms: Rooms;
  users: Users;
  can: Permissions;
  run: RunCommand;
  toast: (text: string) => void;
  /** The newest sequence delivered live (see createTimeline's `seenLive`). */
  seenLive: () => number;
  /** Loads a room with its members. */
  loadDetail: (roomId: string) => Promise<void>;
  /** Listens (or stops listening) to the rooms the user has open. */
  syncWatches: () => void;
}) {
  const { server, me, rooms, users, can, run } = deps;
  const timelines = new Map<string, Timeline>();
  const [thread, setThread] = createSignal<Thread | null>(null);
  const onSendFailed = (reason: string): void => deps.toast(`Message not sent: ${reason}`);

  const timelineOf = (roomId: string): Timeline => {
    let t = timelines.get(roomId);
    if (t !== undefined) {
      // Most recently used last.
      timelines.delete(roomId);
      timelines.set(roomId, t);
      return t;
    }
    t = createTimeline(roomId, { server, me, onSendFailed, seenLive: deps.seenLive });
    timelines.set(roomId, t);
    while (timelines.size > KEEP_TIMELINES) {
      const oldest = timelines.keys().next().value!;
      timelines.delete(oldest);
    }
    return t;
  };

  return {
    thread,
    timeline: timelineOf,
    /** Opens a room: its members, its timeline (at a message when given), its live subject. */
    async openRoom(roomId: string, messageId?: string): Promise<void> {
      const t = timelineOf(roomId);
      if (rooms.state.details[roomId] === undefined) await deps.loadDetail(roomId);
      deps.syncWatches();
      if (messageId !== undefined) await t.loadAround(messageId);
      else if (t.state.status === "idle" || t.state.status === "error" || t.state.hasNewer) await t.loadLatest();
      for (const m of t.messages()) users.see(m.authorId);
    },
    openThread(roomId: string, rootId: string): void {
      const cur = thread();
      if (cur !== null && cur.roomId === roomId && cur.rootId === rootId) return;
      const t = createThread(roomId, rootId, { server, me, onSendFailed });
      setThread(t);
      void t.load();
    },
    closeThread: (): void => {
      setThread(null);
    },
    /** Marks a room read up to a message seen on screen. */
    markRead: (roomId: string, seq: number): Promise<void> => rooms.markRead(roomId, seq),
    react: (roomId: string, messageId: string, emoji: string) =>
      run("msg.react", { roomId, messageId, emoji }).then(
        () => undefined,
        () => undefined,
      ),
    unreact: (roomId: string, messageId: string, emoji: string) =>
      run("msg.unreact", { roomId, messageId, emoji }).then(
        () => undefined,
        () => undefined,
      ),
    edit: (roomId: string, messageId: string, body: string) => run("msg.edit", { roomId, messageId, body }),
    /** Deletes a message: one's own as a member, another's as moderator (or admin). */
    deleteMessage(roomId: string, messageId: string, authorId: string) {
      const admin = authorId !== me && can.asAdmin(roomId, "moderator");
      return run("msg.delete", { roomId, messageId }, { admin });
    },
    /** Applies a live event to the room's timeline and to the open thread. */
    applyLive(e: LiveEvent): void {
      if (e.roomId !== undefined) timelines.get(e.roomId)?.applyLive(e);
      thread()?.applyLive(e);
    },
    /** Catches up the timelines kept and reloads the open thread (after a reconnect). */
    catchUp(): void {
      for (const t of [...timelines.values()]) void t.catchUp().catch(() => undefined);
      void thread()?.load();
    },
  };
}

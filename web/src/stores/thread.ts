import { createStore } from "solid-js/store";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Server } from "../server.ts";
import { MESSAGE_EVENT_TYPES } from "./messageEvents.ts";
import { createMessageList, createSender, type SenderDeps } from "./messageList.ts";
import type { TimelineMessage } from "./timeline.ts";

/** What a thread needs of the server. */
export type ThreadServer = Pick<Server, "thread" | "command">;

/**
 * One thread: its root and replies (`GET …/threads/{rootId}`), kept current by live events (a
 * reply comes on the room's subject, and on `deliver.<uid>.thread.*` to its participants), with
 * optimistic replies. Like the timeline, events during a load are held and every change is
 * idempotent by sequence.
 */
export function createThread(roomId: string, rootId: string, deps: SenderDeps & { server: ThreadServer }) {
  const list = createMessageList();
  const sender = createSender(list, { ...deps, roomId, threadRootId: rootId });
  const [state, setState] = createStore({
    status: "idle" as "idle" | "loading" | "ready" | "error",
    error: null as string | null,
    participants: [] as string[],
  });
  let held: LiveEvent[] | null = null;

  const thread = {
    roomId,
    rootId,
    state,
    sender,
    /** The root, if loaded. */
    root: (): TimelineMessage | undefined => list.find(rootId),
    /** The replies, oldest first, then those being sent. */
    replies: (): readonly TimelineMessage[] => list.state.items.filter((m) => m.messageId !== rootId),
    /** The root then the replies, as the thread panel shows them. */
    messages: (): readonly TimelineMessage[] => list.state.items,
    /** Loads (or reloads: after a reconnect) the thread. */
    async load(minSeq?: number): Promise<void> {
      held ??= [];
      setState({ status: state.status === "ready" ? "ready" : "loading", error: null });
      try {
        const ans = await deps.server.thread(roomId, rootId, minSeq);
        list.replace([ans.root, ...ans.replies]);
        setState({ status: "ready", participants: ans.participants });
      } catch (err) {
        setState({ status: "error", error: err instanceof Error ? err.message : String(err) });
      } finally {
        const events = held;
        held = null;
        for (const e of events) thread.applyLive(e);
      }
    },
    /** Applies a live event of the room: replies to this root, changes to the root or a reply. */
    applyLive(e: LiveEvent): void {
      if (e.roomId !== roomId || !MESSAGE_EVENT_TYPES.has(e.type)) return;
      if (held !== null) {
        held.push(e);
        return;
      }
      list.apply(e, (m) => m.threadRootId === rootId);
    },
  };
  return thread;
}

export type Thread = ReturnType<typeof createThread>;

import { createStore } from "solid-js/store";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Message } from "../../../read-api/schemas.ts";
import type { Server } from "../server.ts";
import { coalesced } from "./coalesced.ts";
import { MESSAGE_EVENT_TYPES } from "./messageEvents.ts";
import { createMessageList, createSender, type SenderDeps, type TimelineMessage } from "./messageList.ts";

export type { TimelineMessage } from "./messageList.ts";

/** What a timeline needs of the server. */
export type TimelineServer = Pick<Server, "messages" | "changes" | "command">;

/** The messages a page asks for. */
export const PAGE_SIZE = 50;
/** Catch-up rounds of `changes` before the window is reloaded from the latest page instead. */
const MAX_CATCH_UP_ROUNDS = 5;

/**
 * One room's timeline: a window of its messages (thread replies live in their threads), filled by
 * pages of the read API, kept current by live events, caught up after every reconnect, with
 * optimistic sends.
 *
 * Live events that arrive while a page or a catch-up is loading are held and applied after it;
 * every change is idempotent by sequence (a message's `updatedSeq`, a post's presence), so an
 * event delivered twice (on `live.room.*` and `deliver.<uid>.*`, or again after a fan-out
 * failover) changes nothing the second time.
 */
/**
 * `seenLive`: the newest sequence the client has had from its live subscriptions, in any room. A
 * window is read with it as `minSeq`, so a page reflects every event already delivered live: one
 * that came before this room's timeline was loading (a DM's first message, say) would otherwise be
 * missing from a page read a moment too early, with nothing to bring it back.
 */
export function createTimeline(roomId: string, deps: SenderDeps & { server: TimelineServer; seenLive?: () => number }) {
  const list = createMessageList();
  const [state, setState] = createStore({
    /** Older messages than the window's first exist. */
    hasOlder: false,
    /** Newer messages than the window's last exist (the window is not at the live end). */
    hasNewer: false,
    status: "idle" as "idle" | "loading" | "ready" | "error",
    error: null as string | null,
    /** Every event up to this sequence is reflected (what `changes?after=` starts from). */
    seenSeq: 0,
  });
  const sender = createSender(list, { ...deps, roomId, threadRootId: null });
  let held: LiveEvent[] | null = null;
  let generation = 0;

  const see = (seq: number): void => {
    if (seq > state.seenSeq) setState("seenSeq", seq);
  };
  const hold = (): void => {
    held ??= [];
  };
  const release = (): void => {
    const events = held ?? [];
    held = null;
    for (const e of events) timeline.applyLive(e);
  };
  const acceptPost = (m: Message): boolean => m.threadRootId === null && !state.hasNewer;
  /** Whether a message belongs in the window: listed, inside its range, or new at its live end. */
  const inWindow = (m: Message): boolean => {
    if (list.find(m.messageId) !== undefined) return true;
    const first = list.firstSeq();
    if (m.seq > list.lastSeq()) return !state.hasNewer;
    return first === 0 || m.seq > first || !state.hasOlder;
  };

  /** Loads a page as the whole window. */
  const loadWindow = async (page: Parameters<TimelineServer["messages"]>[1]): Promise<void> => {
    const mine = ++generation;
    hold();
    setState({ status: "loading", error: null });
    try {
      const minSeq = deps.seenLive?.() ?? 0;
      const ans = await deps.server.messages(roomId, { limit: PAGE_SIZE, ...page, ...(minSeq > 0 ? { minSeq } : {}) });
      if (mine !== generation) return;
      list.replace(ans.messages);
      setState({ hasOlder: ans.hasBefore, hasNewer: ans.hasAfter, status: "ready" });
      see(Math.max(0, ...ans.messages.map((m) => m.updatedSeq)));
      release();
    } catch (err) {
      if (mine !== generation) return;
      held = null;
      setState({ status: "error", error: err instanceof Error ? err.message : String(err) });
    }
  };

  const catchUpOnce = async (): Promise<void> => {
    if (state.status === "error") return timeline.loadLatest();
    if (state.status !== "ready") return undefined;
    hold();
    try {
      for (let round = 0; ; round++) {
        if (round === MAX_CATCH_UP_ROUNDS) {
          held = null;
          await timeline.loadLatest();
          return undefined;
        }
        const ans = await deps.server.changes(roomId, state.seenSeq);
        for (const m of ans.messages) if (m.threadRootId === null && inWindow(m)) list.upsert(m);
        see(ans.seq);
        if (!ans.more) break;
      }
      release();
      return undefined;
    } catch (err) {
      release();
      throw err;
    }
  };

  const timeline = {
    roomId,
    state,
    /** The window's messages, oldest first (confirmed by seq, then those being sent). */
    messages: (): readonly TimelineMessage[] => list.state.items,
    find: (messageId: string): TimelineMessage | undefined => list.find(messageId),
    /** Loads the latest page. */
    loadLatest: (): Promise<void> => loadWindow({}),
    /** Loads the page centred on a message (a search hit). */
    loadAround: (messageId: string): Promise<void> => loadWindow({ around: messageId }),
    /** Prepends the page before the window. */
    async loadOlder(): Promise<void> {
      if (!state.hasOlder) return;
      const first = list.firstSeq();
      const ans = await deps.server.messages(roomId, { before: first, limit: PAGE_SIZE });
      list.addPage(ans.messages);
      setState("hasOlder", ans.hasBefore);
    },
    /** Appends the page after the window (towards the live end). */
    async loadNewer(): Promise<void> {
      if (!state.hasNewer) return;
      const ans = await deps.server.messages(roomId, { after: list.lastSeq(), limit: PAGE_SIZE });
      list.addPage(ans.messages);
      setState("hasNewer", ans.hasAfter);
    },
    /** Applies a live event of this room (others are ignored); held while a page or catch-up loads. */
    applyLive(e: LiveEvent): void {
      if (e.roomId !== roomId || !MESSAGE_EVENT_TYPES.has(e.type)) return;
      if (held !== null) {
        held.push(e);
        return;
      }
      list.apply(e, acceptPost);
      see(e.seq);
    },
    /**
     * After a (re)connect, with the subscriptions in place: everything changed after `seenSeq`
     * (`changes`), then the events held meanwhile. A gap too long for a few rounds reloads the
     * latest page instead.
     */
    catchUp: coalesced(() => catchUpOnce()),
    /** Optimistic sending: `send(body, mentions)`, `retry(clientId)`, `discard(clientId)`, `errors`. */
    sender,
  };
  return timeline;
}

export type Timeline = ReturnType<typeof createTimeline>;

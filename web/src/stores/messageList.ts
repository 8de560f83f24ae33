import { createStore, produce, reconcile, type SetStoreFunction } from "solid-js/store";
import { ulid } from "ulid";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Message } from "../../../read-api/schemas.ts";
import { applyReply, applyToMessage, messageFromPosted, threadRootOf } from "./messageEvents.ts";
import type { Server } from "../server.ts";

/**
 * A message as the timeline shows it: the read API's `Message`, or one being sent (`pending`, with
 * the `clientId` it was sent under, which is also its `messageId`; `seq` 0; after every confirmed
 * message), or one whose send failed (`failed`: shown with Retry).
 */
export type TimelineMessage = Message & { pending?: boolean; failed?: boolean; clientId?: string };

/** A message being sent: shown at once, in the order sent, after the confirmed ones. */
export function pendingMessage(args: {
  clientId: string;
  roomId: string;
  authorId: string;
  body: string;
  threadRootId: string | null;
  now?: Date;
}): TimelineMessage {
  return {
    messageId: args.clientId,
    clientId: args.clientId,
    roomId: args.roomId,
    seq: 0,
    authorId: args.authorId,
    body: args.body,
    postedAt: (args.now ?? new Date()).toISOString(),
    editedAt: null,
    deleted: false,
    reactions: [],
    threadRootId: args.threadRootId,
    replyCount: 0,
    lastReplyAt: null,
    updatedSeq: 0,
    pending: true,
  };
}

const confirmed = (m: TimelineMessage): boolean => m.pending !== true && m.failed !== true;

/** Where a message of sequence `seq` goes among the confirmed ones (sorted by seq). */
function insertionIndex(items: readonly TimelineMessage[], seq: number): number {
  let lo = 0;
  let hi = items.length;
  while (hi > 0 && !confirmed(items[hi - 1]!)) hi--;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * An ordered list of messages in a Solid store: confirmed messages by `seq`, then those being sent.
 * Snapshots replace it with `reconcile` keyed by `messageId`; live events change it with `produce`.
 * Every change is idempotent: an event a message already reflects (by its `updatedSeq`) and a post
 * already in the list change nothing.
 */
export function createMessageList() {
  const [state, setState] = createStore<{ items: TimelineMessage[] }>({ items: [] });
  const set: SetStoreFunction<{ items: TimelineMessage[] }> = setState;

  const indexOf = (messageId: string): number => state.items.findIndex((m) => m.messageId === messageId);

  const list = {
    state,
    /** The message with this id, if listed. */
    find: (messageId: string): TimelineMessage | undefined => state.items.find((m) => m.messageId === messageId),
    /** The highest `seq` among confirmed messages (0 when none). */
    lastSeq(): number {
      for (let i = state.items.length - 1; i >= 0; i--) if (confirmed(state.items[i]!)) return state.items[i]!.seq;
      return 0;
    },
    /** The lowest `seq` among confirmed messages (0 when none). */
    firstSeq: (): number => state.items.find(confirmed)?.seq ?? 0,
    /** Replaces the confirmed messages with a snapshot, keeping those being sent. */
    replace(messages: readonly Message[]): void {
      const sending = state.items.filter((m) => !confirmed(m) && !messages.some((x) => x.messageId === m.messageId));
      set("items", reconcile([...messages, ...sending], { key: "messageId", merge: false }));
    },
    /** Adds a page of older (or newer) messages, dropping ones already listed. */
    addPage(messages: readonly Message[]): void {
      for (const m of messages) list.upsert(m);
    },
    /**
     * Puts a message as the server has it: replaces a listed one that is older (by `updatedSeq`) or
     * being sent under its id, else inserts it in `seq` order.
     */
    upsert(m: Message): void {
      const i = indexOf(m.messageId);
      if (i >= 0) {
        const old = state.items[i]!;
        if (confirmed(old) && old.updatedSeq >= m.updatedSeq) return;
        set(
          "items",
          produce((items) => {
            items.splice(i, 1);
            items.splice(insertionIndex(items, m.seq), 0, { ...m });
          }),
        );
        return;
      }
      set(
        "items",
        produce((items) => items.splice(insertionIndex(items, m.seq), 0, { ...m })),
      );
    },
    /**
     * Applies a live event: a post (added when `acceptPost` says so, or replacing the pending
     * message of the same id), a reply (counted on its root), an edit, delete or reaction.
     * Returns true when something changed.
     */
    apply(e: LiveEvent, acceptPost: (m: Message) => boolean): boolean {
      const id = e.messageId;
      if (id === undefined) return false;
      if (e.type === "MessagePosted") {
        const m = messageFromPosted(e);
        // The root counts the reply even when the reply itself is already here (the user's own,
        // confirmed by its command's answer): the root's updatedSeq keeps it to once.
        const rootId = threadRootOf(e);
        let changed = false;
        if (rootId !== null) {
          const r = indexOf(rootId);
          if (r >= 0) changed = applyIn(r, (root) => applyReply(root, e));
        }
        const i = indexOf(id);
        if (i >= 0 && confirmed(state.items[i]!)) return changed;
        if (i < 0 && !acceptPost(m)) return changed;
        list.upsert(m);
        return true;
      }
      const i = indexOf(id);
      return i >= 0 && applyIn(i, (msg) => applyToMessage(msg, e));
    },
    /** Shows a message being sent. */
    addPending(m: TimelineMessage): void {
      set(
        "items",
        produce((items) => items.push(m)),
      );
    },
    /** A send answered: the message is confirmed at `seq` unless the live post already replaced it. */
    confirm(clientId: string, seq: number): void {
      const i = indexOf(clientId);
      if (i < 0 || confirmed(state.items[i]!)) return;
      const m: TimelineMessage = { ...state.items[i]!, seq, updatedSeq: seq };
      delete m.pending;
      delete m.failed;
      delete m.clientId;
      set(
        "items",
        produce((items) => {
          items.splice(i, 1);
          items.splice(insertionIndex(items, seq), 0, m);
        }),
      );
    },
    /** Marks a message being sent as failed (or, with `false`, as being sent again). */
    setFailed(clientId: string, failed: boolean): void {
      const i = indexOf(clientId);
      if (i < 0 || confirmed(state.items[i]!)) return;
      set("items", i, (m) => ({ ...m, pending: !failed, failed }));
    },
    /** Removes a message (a failed send given up). */
    remove(messageId: string): void {
      const i = indexOf(messageId);
      if (i >= 0)
        set(
          "items",
          produce((items) => items.splice(i, 1)),
        );
    },
  };

  function applyIn(i: number, f: (m: Message) => boolean): boolean {
    let changed = false;
    set(
      "items",
      i,
      produce((m) => {
        changed = f(m);
      }),
    );
    return changed;
  }

  return list;
}

export type MessageList = ReturnType<typeof createMessageList>;

/** What sending needs: the server, the user, and who to tell when a send fails. */
export type SenderDeps = { server: Pick<Server, "command">; me: string; onSendFailed?: (reason: string) => void };

/**
 * Optimistic sending into a list: a message is shown at once as pending (its clientId, the
 * command's id and the message's id are one ULID), confirmed by its live post or the command's
 * answer, or marked failed with the reason; Retry sends it again under the same command id, which
 * the server applies once.
 */
export function createSender(list: MessageList, deps: SenderDeps & { roomId: string; threadRootId: string | null }) {
  const [errors, setErrors] = createStore<Record<string, string>>({});
  const mentionsOf = new Map<string, readonly string[]>();

  const post = async (clientId: string): Promise<void> => {
    const m = list.find(clientId);
    if (m === undefined) return;
    list.setFailed(clientId, false);
    setErrors(produce((e) => delete e[clientId]));
    const mentions = mentionsOf.get(clientId) ?? [];
    try {
      const { result } = await deps.server.command(
        "msg.post",
        {
          roomId: deps.roomId,
          body: m.body,
          messageId: clientId,
          ...(deps.threadRootId === null ? {} : { threadRootId: deps.threadRootId }),
          ...(mentions.length > 0 ? { mentions: [...mentions] } : {}),
        },
        { commandId: clientId },
      );
      mentionsOf.delete(clientId);
      list.confirm(clientId, result.seq);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      list.setFailed(clientId, true);
      setErrors(clientId, reason);
      deps.onSendFailed?.(reason);
    }
  };

  return {
    /** Why each failed send failed, by clientId. */
    errors,
    /** Sends a message (see above); resolves when it is confirmed or has failed. */
    send(body: string, mentions: readonly string[] = []): Promise<void> {
      const clientId = ulid();
      mentionsOf.set(clientId, mentions);
      list.addPending(
        pendingMessage({ clientId, roomId: deps.roomId, authorId: deps.me, body, threadRootId: deps.threadRootId }),
      );
      return post(clientId);
    },
    /** Sends a failed message again. */
    retry: (clientId: string): Promise<void> => post(clientId),
    /** Gives up a failed message. */
    discard(clientId: string): void {
      mentionsOf.delete(clientId);
      setErrors(produce((e) => delete e[clientId]));
      list.remove(clientId);
    },
  };
}

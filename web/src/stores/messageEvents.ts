import type { LiveEvent } from "../../../domain/index.ts";
import type { Message } from "../../../read-api/schemas.ts";

/** The live event types that change messages. */
export const MESSAGE_EVENT_TYPES: ReadonlySet<string> = new Set([
  "MessagePosted",
  "MessageEdited",
  "MessageDeleted",
  "ReactionAdded",
  "ReactionRemoved",
  "MessageTranslated",
]);

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The thread root a `MessagePosted` event replies to, or null for a message of the timeline. */
export function threadRootOf(e: LiveEvent): string | null {
  return str(e.payload["threadRootId"]) ?? null;
}

/** The users a `MessagePosted` (or edited) event mentions. */
export function mentionsOf(e: LiveEvent): readonly string[] {
  const m = e.payload["mentions"];
  return Array.isArray(m) ? m.filter((x): x is string => typeof x === "string") : [];
}

/** The message a `MessagePosted` live event creates, as the read API would answer it. */
export function messageFromPosted(e: LiveEvent): Message {
  return {
    messageId: e.messageId ?? str(e.payload["messageId"]) ?? "",
    roomId: e.roomId ?? str(e.payload["roomId"]) ?? "",
    seq: e.seq,
    authorId: str(e.payload["authorId"]) ?? e.actor,
    body: str(e.payload["body"]) ?? "",
    postedAt: e.time,
    editedAt: null,
    deleted: false,
    reactions: [],
    threadRootId: threadRootOf(e),
    replyCount: 0,
    lastReplyAt: null,
    updatedSeq: e.seq,
  };
}

/**
 * Applies a live event to the message it names (in place, for Solid's `produce`), as the timeline
 * projection does (test/roomCopy.ts is the reference): edits, deletes, reactions. Returns false
 * (changing nothing) for an event the message already reflects (`seq` not above its `updatedSeq`)
 * or one that does not change a message's own fields.
 */
export function applyToMessage(m: Message, e: LiveEvent): boolean {
  if (e.seq <= m.updatedSeq) return false;
  const p = e.payload;
  switch (e.type) {
    case "MessageEdited":
      m.body = str(p["body"]) ?? m.body;
      m.editedAt = e.time;
      break;
    case "MessageDeleted":
      m.body = "";
      m.deleted = true;
      m.reactions = [];
      break;
    case "ReactionAdded":
    case "ReactionRemoved": {
      const emoji = str(p["emoji"]);
      const userId = str(p["userId"]);
      if (emoji === undefined || userId === undefined) return false;
      m.reactions = react(m.reactions, emoji, userId, e.type === "ReactionAdded" ? e.seq : null);
      break;
    }
    case "MessageTranslated":
      break;
    default:
      return false;
  }
  m.updatedSeq = e.seq;
  return true;
}

/** A thread root after one more reply (a `MessagePosted` with its id as `threadRootId`), in place. */
export function applyReply(root: Message, e: LiveEvent): boolean {
  if (e.seq <= root.updatedSeq) return false;
  root.replyCount += 1;
  root.lastReplyAt = e.time;
  root.updatedSeq = e.seq;
  return true;
}

/**
 * The reactions after one user adds (`seq`) or removes (`null`) one emoji: users in the order they
 * reacted, emojis in the order of their earliest current reaction.
 */
export function react(
  reactions: Message["reactions"],
  emoji: string,
  userId: string,
  seq: number | null,
): Message["reactions"] {
  const out: Message["reactions"] = [];
  let found = false;
  for (const r of reactions) {
    const keep = r.userIds
      .map((u, i) => [u, r.seqs[i] ?? 0] as const)
      .filter(([u]) => r.emoji !== emoji || u !== userId);
    if (r.emoji === emoji) {
      found = true;
      if (seq !== null) keep.push([userId, seq]);
    }
    if (keep.length > 0)
      out.push({ emoji: r.emoji, count: keep.length, userIds: keep.map(([u]) => u), seqs: keep.map(([, s]) => s) });
  }
  if (!found && seq !== null) out.push({ emoji, count: 1, userIds: [userId], seqs: [seq] });
  return out.sort((a, b) => (a.seqs[0] ?? 0) - (b.seqs[0] ?? 0));
}

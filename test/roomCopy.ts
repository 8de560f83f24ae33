import type { LiveEvent } from "../domain/index.ts";
import type { Message } from "../read-api/index.ts";

type Reactor = { emoji: string; userId: string; seq: number };

/**
 * A client's copy of one room's messages, as a chat client keeps it: filled from the read API's
 * `changes` answers, kept current by live events, and compared with the server's read model.
 * It applies what the timeline projection applies, from the live events alone.
 */
export class RoomCopy {
  readonly messages = new Map<string, Message>();
  private readonly reactors = new Map<string, Reactor[]>();
  /** Everything up to this sequence is in the copy. */
  seenSeq = 0;

  constructor(readonly roomId: string) {}

  /** Takes a `changes` answer: each message as the server has it now. */
  applySnapshot(messages: readonly Message[], seq: number): void {
    for (const m of messages) {
      this.messages.set(m.messageId, structuredClone(m));
      this.reactors.set(
        m.messageId,
        m.reactions.flatMap((r) => r.userIds.map((userId, i) => ({ emoji: r.emoji, userId, seq: r.seqs[i]! }))),
      );
    }
    this.seenSeq = Math.max(this.seenSeq, seq);
  }

  /** Applies a live event of the room above what the copy has; returns false for one it already has. */
  applyLive(e: LiveEvent): boolean {
    if (e.seq <= this.seenSeq || e.roomId !== this.roomId || e.messageId === undefined) return false;
    this.seenSeq = e.seq;
    const p = e.payload as Record<string, unknown>;
    const m = this.messages.get(e.messageId);
    switch (e.type) {
      case "MessagePosted": {
        const rootId = (p["threadRootId"] as string | undefined) ?? null;
        this.messages.set(e.messageId, {
          messageId: e.messageId,
          roomId: this.roomId,
          seq: e.seq,
          authorId: p["authorId"] as string,
          body: p["body"] as string,
          postedAt: e.time,
          editedAt: null,
          deleted: false,
          reactions: [],
          threadRootId: rootId,
          replyCount: 0,
          lastReplyAt: null,
          updatedSeq: e.seq,
        });
        const root = rootId === null ? undefined : this.messages.get(rootId);
        if (root !== undefined)
          Object.assign(root, { replyCount: root.replyCount + 1, lastReplyAt: e.time, updatedSeq: e.seq });
        return true;
      }
      case "MessageEdited":
        if (m !== undefined) Object.assign(m, { body: p["body"], editedAt: e.time, updatedSeq: e.seq });
        return true;
      case "MessageDeleted":
        if (m !== undefined) Object.assign(m, { body: "", deleted: true, reactions: [], updatedSeq: e.seq });
        this.reactors.set(e.messageId, []);
        return true;
      case "ReactionAdded":
      case "ReactionRemoved": {
        if (m === undefined) return true;
        const list = (this.reactors.get(e.messageId) ?? []).filter(
          (r) => !(r.emoji === p["emoji"] && r.userId === p["userId"]),
        );
        if (e.type === "ReactionAdded")
          list.push({ emoji: p["emoji"] as string, userId: p["userId"] as string, seq: e.seq });
        this.reactors.set(e.messageId, list);
        m.reactions = groupReactions(list);
        m.updatedSeq = e.seq;
        return true;
      }
      default:
        return true;
    }
  }

  /** The copy in the read model's order (by sequence), for comparing. */
  sorted(): Message[] {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }
}

/** Reactions per emoji, emojis in the order first given, users in the order they reacted. */
function groupReactions(list: readonly Reactor[]): Message["reactions"] {
  const groups = new Map<string, Reactor[]>();
  for (const r of [...list].sort((a, b) => a.seq - b.seq))
    (groups.get(r.emoji) ?? groups.set(r.emoji, []).get(r.emoji)!).push(r);
  return [...groups].map(([emoji, rs]) => ({
    emoji,
    count: rs.length,
    userIds: rs.map((r) => r.userId),
    seqs: rs.map((r) => r.seq),
  }));
}

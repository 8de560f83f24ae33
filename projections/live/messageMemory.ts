import type { MessageEvent, UserId } from "../../domain/index.ts";
import { messageSubject, type EventStore } from "../../streams/index.ts";
import { Lru } from "./lru.ts";

type PostedData = Extract<MessageEvent, { type: "MessagePosted" }>["data"];

/** What the fan-out remembers of a posted message: who wrote it and whom it mentions. */
export type PostFacts = { readonly authorId: UserId; readonly mentions: readonly UserId[] };

/** How many posts and threads a MessageMemory keeps. */
export type MessageMemoryOptions = {
  /** Posts remembered (for the root author of a thread and the mentions of an edit). */
  posts: number;
  /** Threads whose participants are remembered. */
  threads: number;
};

const keyOf = (roomId: string, messageId: string): string => `${roomId}.${messageId}`;

/**
 * The fan-out's memory of messages, learnt from the log as it flows: bounded LRUs of recent
 * posts (author, mentions) and of thread participants (the root's author and every replier seen).
 * A post not remembered is read from the first event of its own subject
 * (`ev.msg.<roomId>.<messageId>`, a direct get), which is its `MessagePosted`.
 *
 * A thread first met since the fan-out became active (or evicted since) is seeded with its root's
 * author and the repliers the `threads` projection has recorded (`repliers`): the replies live on
 * their own subjects, so the log alone would mean reading the room's whole timeline.
 */
export class MessageMemory {
  private readonly posts: Lru<string, PostFacts>;
  private readonly threads: Lru<string, Set<UserId>>;

  constructor(
    private readonly store: EventStore,
    options: MessageMemoryOptions,
    /** Called for each post read from the log because it was not remembered. */
    private readonly onMiss: () => void = () => undefined,
    /** Who replied in a thread so far, as recorded beside the log (projections/threads). */
    private readonly repliers: (roomId: string, rootId: string) => Promise<readonly string[]> = async () => [],
  ) {
    this.posts = new Lru(options.posts);
    this.threads = new Lru(options.threads);
  }

  /** Remembers a post read in stream order. */
  posted(data: PostedData): void {
    this.posts.set(keyOf(data.roomId, data.messageId), { authorId: data.authorId, mentions: data.mentions });
  }

  /** A post's facts: remembered, else read from the log; undefined when there is no such post. */
  async post(roomId: string, messageId: string): Promise<PostFacts | undefined> {
    const key = keyOf(roomId, messageId);
    const known = this.posts.get(key);
    if (known !== undefined) return known;
    this.onMiss();
    const seq = await this.store.nextSeqMatching(messageSubject(roomId, messageId), 1);
    const first = seq === null ? null : await this.store.readEvent(seq);
    if (first?.event.type !== "MessagePosted") return undefined;
    const facts: PostFacts = { authorId: first.event.data.authorId, mentions: first.event.data.mentions };
    this.posts.set(key, facts);
    return facts;
  }

  /**
   * The participants of the thread under `rootId` as known so far: remembered, or seeded with the
   * root's author. The set is the remembered one: add the replier to it once the reply is routed.
   */
  async participants(roomId: string, rootId: string): Promise<Set<UserId>> {
    const key = keyOf(roomId, rootId);
    const known = this.threads.get(key);
    if (known !== undefined) return known;
    const [root, earlier] = await Promise.all([this.post(roomId, rootId), this.repliers(roomId, rootId)]);
    const raced = this.threads.get(key);
    if (raced !== undefined) return raced;
    const participants = new Set<UserId>(root === undefined ? [] : [root.authorId, ...(earlier as UserId[])]);
    this.threads.set(key, participants);
    return participants;
  }
}

import type { KV } from "@nats-io/kv";
import type { BucketName, EventEnvelope } from "../../streams/index.ts";
import { putIfNewer } from "../kvWrite.ts";
import type { KvProjection } from "../projection.ts";

/** The bucket of thread repliers. */
export const THREADS_BUCKET = "thread_participants" satisfies BucketName;

/** A thread's repliers, in the order of their first reply, and the sequence of its last reply. */
export type ThreadValue = { repliers: string[]; seq: number };

/** The key of a thread: `<roomId>.<rootId>`. */
export const threadKey = (roomId: string, rootId: string): string => `${roomId}.${rootId}`;

/** The reply an event is, if it is one: the thread's key and who replied. */
function replyOf(e: EventEnvelope): { key: string; authorId: string } | undefined {
  const ev = e.event;
  if (ev.type !== "MessagePosted" || ev.data.threadRootId === undefined) return undefined;
  return { key: threadKey(ev.data.roomId, ev.data.threadRootId), authorId: ev.data.authorId };
}

const withReplier = (current: ThreadValue | undefined, authorId: string, seq: number): ThreadValue => {
  const repliers = current?.repliers ?? [];
  return { repliers: repliers.includes(authorId) ? repliers : [...repliers, authorId], seq };
};

/** A thread's repliers from the bucket (empty when it has none, or no such thread). */
export async function threadRepliers(kv: KV, roomId: string, rootId: string): Promise<string[]> {
  const e = await kv.get(threadKey(roomId, rootId));
  return e === null || e.operation !== "PUT" ? [] : e.json<ThreadValue>().repliers;
}

/**
 * Who replied in each thread, in NATS KV (`thread_participants` keyed `<roomId>.<rootId>`): the
 * live fan-out reads it for a thread it has not met since it started, so the people who replied
 * before it started still get the thread's new replies. Each value carries the sequence of the
 * last reply it took in; an older event never overwrites it.
 */
export const threadsProjection: KvProjection = {
  kind: "kv",
  name: "threads",
  version: 1,
  filterSubjects: ["ev.msg.>"],
  buckets: [THREADS_BUCKET],
  async apply(buckets, events) {
    const kv = buckets[THREADS_BUCKET]!;
    for (const e of events) {
      const reply = replyOf(e);
      if (reply !== undefined)
        await putIfNewer<ThreadValue>(kv, reply.key, e.seq, (current) => withReplier(current, reply.authorId, e.seq));
    }
  },
  expected(events) {
    const state = new Map<string, ThreadValue>();
    for (const e of events) {
      const reply = replyOf(e);
      if (reply !== undefined) state.set(reply.key, withReplier(state.get(reply.key), reply.authorId, e.seq));
    }
    return new Map([[THREADS_BUCKET, new Map([...state].map(([k, v]) => [k, JSON.stringify(v)]))]]);
  },
};

import type { KV } from "@nats-io/kv";
import { isWrongLastSequence } from "../streams/index.ts";

/** A KV projection's value: whatever it holds, with the sequence of the event that last set it. */
export type Sequenced = { seq: number };

/**
 * Sets `key` to `next(current)` for the event at `seq`, unless the key holds a value of that or a
 * later sequence; resolves with what the key holds afterwards. Compare-and-set on the entry's
 * revision: a writer that read an older value (a projector that lost its lease while paused and
 * then resumed) cannot put it back over a newer one; it reads again and finds the newer value.
 */
export async function putIfNewer<V extends Sequenced>(
  kv: KV,
  key: string,
  seq: number,
  next: (current: V | undefined) => V,
): Promise<V> {
  for (;;) {
    const e = await kv.get(key);
    const current = e === null || e.operation !== "PUT" ? undefined : e.json<V>();
    if (current !== undefined && current.seq >= seq) return current;
    const value = next(current);
    try {
      if (e === null) await kv.create(key, JSON.stringify(value));
      else await kv.update(key, JSON.stringify(value), e.revision);
      return value;
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
    }
  }
}

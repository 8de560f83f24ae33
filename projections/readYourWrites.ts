import type { NatsConnection } from "@nats-io/transport-node";
import type { EventStore } from "../streams/index.ts";
import type { Projection } from "./projection.ts";
import { appliedSubject } from "./announcements.ts";

/**
 * Waits, at most `timeoutMs`, until `projection` has applied everything of the log up to `seq`
 * that it reads (a query's `minSeq`): its checkpoint reached `seq`, or no event it reads lies
 * between its checkpoint and `seq`. Resolves true when so, false on timeout (the caller answers
 * with what it has, or says it is behind). Listens for the projector's checkpoint announcements
 * rather than polling the database.
 *
 * @example if (!(await waitForApplied(nc, store, timelineProjection, readCheckpoint, minSeq))) res.header("Natter-Stale", "1")
 */
export async function waitForApplied(...args: Parameters<typeof appliedAt>): Promise<boolean> {
  return (await appliedAt(...args)) !== null;
}

/**
 * As waitForApplied, but resolves with the checkpoint it found enough: `seq` or beyond, or one
 * below `seq` with nothing the projection reads between them; null on timeout.
 */
export async function appliedAt(
  nc: NatsConnection,
  store: EventStore,
  projection: Projection,
  checkpoint: () => Promise<number>,
  seq: number,
  timeoutMs = 2000,
): Promise<number | null> {
  if (seq <= 0) return seq;
  const deadline = Date.now() + timeoutMs;
  let announced = 0;
  let wake: (() => void) | undefined;
  const sub = nc.subscribe(appliedSubject(projection.name), {
    callback: (err, m) => {
      if (err) return;
      announced = Math.max(announced, m.json<{ seq: number }>().seq);
      wake?.();
    },
  });
  try {
    for (;;) {
      const cp = Math.max(announced, await checkpoint());
      if (cp >= seq) return cp;
      const next = await Promise.all(projection.filterSubjects.map((f) => store.nextSeqMatching(f, cp + 1)));
      if (next.every((n) => n === null || n > seq)) return cp;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      // Sleep until the projector announces a newer checkpoint, or the deadline.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          if (announced > cp) {
            clearTimeout(timer);
            resolve();
          }
        };
        if (announced > cp) wake();
      });
      wake = undefined;
    }
  } finally {
    sub.unsubscribe();
  }
}

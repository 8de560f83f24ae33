import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeConsumed, type EventEnvelope } from "./envelope.ts";
import { EVENT_STREAM } from "./subjects.ts";

export type ScanOptions = {
  /** Subjects to read (default: the whole log). */
  filterSubjects?: readonly string[];
  /** The first sequence to read (default 1). */
  fromSeq?: number;
  /** Stop after this sequence (default: the end of the log when the scan reaches it). */
  untilSeq?: number;
  /** Events handed over at once at most. */
  batchSize?: number;
  /** Decode with this instead of failing on an unreadable event (default: throw). */
  onUndecodable?: (m: JsMsg, err: unknown) => void;
};

/** How far a scan has come: events read, the last sequence, and how many remain. */
export type ScanProgress = { read: number; seq: number; pending: number };

/**
 * Reads the log in stream order with an ordered consumer (no durable state on the server), in
 * batches, until it reaches `untilSeq` or the end of the log as it was when the scan caught up.
 * `onBatch` runs one batch at a time, in order; while it runs, the scan reads and decodes the next
 * batch (at most one ahead), so that decoding overlaps the caller's work (a rebuild's database
 * writes) instead of adding to it. It resolves after the last `onBatch` has; when one rejects,
 * no later batch is handed over and the scan rejects with its error.
 */
export async function scanLog(
  nc: NatsConnection,
  options: ScanOptions,
  onBatch: (events: EventEnvelope[], progress: ScanProgress) => Promise<void> | void,
): Promise<ScanProgress> {
  const js = jetstream(nc);
  const filters = [...(options.filterSubjects ?? ["ev.>"])];
  const consumer = await js.consumers.get(EVENT_STREAM, {
    filter_subjects: filters,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(1, options.fromSeq ?? 1),
  });
  const progress: ScanProgress = { read: 0, seq: (options.fromSeq ?? 1) - 1, pending: 0 };
  // An ordered consumer with nothing to deliver never says so: look before waiting.
  const jsm = await jetstreamManager(nc);
  const from = Math.max(1, options.fromSeq ?? 1);
  const next = await Promise.all(
    filters.map((f) => jsm.direct.getMessage(EVENT_STREAM, { seq: from, next_by_subj: f }).catch(() => null)),
  );
  const first = Math.min(...next.map((m) => m?.seq ?? Number.POSITIVE_INFINITY));
  if (first === Number.POSITIVE_INFINITY || first > (options.untilSeq ?? Number.POSITIVE_INFINITY)) return progress;
  const until = options.untilSeq ?? Number.POSITIVE_INFINITY;
  const batchSize = options.batchSize ?? 2000;
  const messages = await consumer.consume({ max_messages: batchSize * 2 });
  let batch: EventEnvelope[] = [];
  // The batch being handed over (busy until its onBatch settles), and the first error of one.
  let running: Promise<void> | undefined;
  let busy = false;
  let failed: { err: unknown } | undefined;
  const settle = async () => {
    await running;
    running = undefined;
    if (failed) throw failed.err;
  };
  const flush = async () => {
    if (batch.length === 0) return;
    const b = batch;
    batch = [];
    const at = { ...progress };
    await settle();
    busy = true;
    running = (async () => onBatch(b, at))().then(
      () => {
        busy = false;
      },
      (err: unknown) => {
        busy = false;
        failed ??= { err };
      },
    );
  };
  try {
    for await (const m of messages) {
      if (m.seq > until) break;
      try {
        batch.push(decodeConsumed(m));
      } catch (err) {
        if (options.onUndecodable === undefined) throw err;
        options.onUndecodable(m, err);
      }
      progress.read++;
      progress.seq = m.seq;
      progress.pending = m.info.pending;
      const done = m.info.pending === 0 || m.seq >= until;
      // Hand over a full batch, the last, or what came while nothing was being handed over; while
      // a batch is, gather more (the server said more follow: m.info.pending > 0).
      if (done || batch.length >= batchSize || (!busy && messages.getPending() === 0)) await flush();
      if (done) break;
    }
    await flush();
    await settle();
  } catch (err) {
    // An earlier batch's failure comes first: the events after it were only read ahead.
    await running;
    throw failed ? failed.err : err;
  } finally {
    messages.stop();
  }
  return progress;
}

/** The sequence of the first event at or after `time`, or null when there is none. */
export async function seqAtTime(nc: NatsConnection, time: Date): Promise<number | null> {
  const jsm = await jetstreamManager(nc);
  const m = await jsm.direct.getMessage(EVENT_STREAM, { start_time: time }).catch(() => null);
  return m?.seq ?? null;
}

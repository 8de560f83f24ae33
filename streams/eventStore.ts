import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  JetStreamError,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { ConflictError, UnavailableError, type StreamSeq } from "../domain/index.ts";
import { decodeEvent, H, type EncodedEvent, type EventEnvelope, type RawStoredMessage } from "./envelope.ts";
import { Requests } from "./requests.ts";
import { EVENT_STREAM } from "./subjects.ts";

/**
 * JetStream's API error codes for a failed `Nats-Expected-Last-Subject-Sequence` check: 10071
 * names the subject's sequence; a replicated stream answers 10164 while another append on the
 * subject is still being proposed. Both mean another append got there first.
 */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

/** True for JetStream's answer that an expected last sequence did not hold (a lost race, a failed compare-and-set). */
export function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && WRONG_LAST_SEQUENCE.has(err.code);
}

const EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence";
/** nats-server 2.11+: the subject (or filter) whose last sequence the header above names, instead of the published one. */
const EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject";
/** The header in which a direct get answers the message's stream sequence. */
const DIRECT_SEQUENCE = "Nats-Sequence";
const textDecoder = new TextDecoder();

/** JetStream's answer to a publish. */
type PubAckJson = {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
};

/** A direct get that found nothing answers with status 404. */
function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamError && (err as JetStreamError & { code?: number }).code === 404;
}

/** The outcome of an append: the event's sequence, and whether JetStream had it already. */
export type AppendResult = { seq: StreamSeq; duplicate: boolean };

export type EventStoreOptions = {
  /** Milliseconds to wait for JetStream before answering `unavailable`. */
  timeoutMs?: number;
  /** Events fetched per batched direct get request. */
  batchSize?: number;
};

/**
 * The event log on JetStream: appends with optimistic concurrency and reads an aggregate's events
 * by batched direct get, which creates no consumer.
 */
export class EventStore {
  readonly js: JetStreamClient;
  private jsmPromise: Promise<JetStreamManager>;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private requestsMade: Requests | undefined;

  constructor(
    readonly nc: NatsConnection,
    options: EventStoreOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.batchSize = options.batchSize ?? 256;
    this.js = jetstream(nc, { timeout: this.timeoutMs });
    this.jsmPromise = jetstreamManager(nc, { timeout: this.timeoutMs, checkAPI: false });
  }

  /**
   * Appends one event, expecting the aggregate's subject to be at `expectedSeq` (0: no event
   * yet). Throws ConflictError when another append got there first; UnavailableError when
   * JetStream does not answer. A repeat of an appended `Nats-Msg-Id` within the duplicate window
   * resolves with the original's sequence and `duplicate: true`.
   *
   * With `guard`, `expectedSeq` is the last sequence of that other subject (a post's room), not of
   * the event's own: the server refuses the append once any event came after it there.
   */
  async append(encoded: EncodedEvent, expectedSeq: number, guard?: string): Promise<AppendResult> {
    let reply: Msg;
    try {
      encoded.headers.set(H.msgId, encoded.msgId);
      encoded.headers.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expectedSeq));
      if (guard !== undefined) encoded.headers.set(EXPECTED_LAST_SUBJECT_SEQUENCE_SUBJECT, guard);
      reply = await this.requests.request(encoded.subject, encoded.payload, { headers: encoded.headers });
    } catch (err) {
      throw new UnavailableError("the event log did not accept the event; try again", { cause: err });
    }
    let ack: PubAckJson;
    try {
      ack = JSON.parse(textDecoder.decode(reply.data)) as PubAckJson;
    } catch (err) {
      throw new UnavailableError("the event log answered the append with something other than an ack; try again", {
        cause: err,
      });
    }
    if (ack.error !== undefined) {
      const cause = new Error(
        `${ack.error.description ?? "refused"} (JetStream error ${ack.error.err_code ?? ack.error.code})`,
      );
      if (ack.error.err_code !== undefined && WRONG_LAST_SEQUENCE.has(ack.error.err_code)) {
        const changed = guard ?? encoded.subject;
        throw new ConflictError(`${changed} changed since sequence ${expectedSeq}`, {
          details: { subject: changed, expectedSeq },
          cause,
        });
      }
      throw new UnavailableError("the event log did not accept the event; try again", { cause });
    }
    if (typeof ack.seq !== "number" || !ack.stream)
      throw new UnavailableError("the event log answered the append without a sequence; try again");
    return { seq: ack.seq as StreamSeq, duplicate: ack.duplicate === true };
  }

  /**
   * The events of one subject after `afterSeq`, in order, upcast to their newest shape. Uses
   * batched direct get (no consumer); resolves with [] when there are none.
   */
  async readSubject(subject: string, afterSeq = 0): Promise<EventEnvelope[]> {
    const jsm = await this.jsmPromise;
    const out: EventEnvelope[] = [];
    let from = afterSeq + 1;
    for (;;) {
      let pending = 0;
      let last = 0;
      let got = 0;
      const raw: RawStoredMessage[] = [];
      try {
        const iter = await jsm.direct.getBatch(EVENT_STREAM, {
          seq: from,
          next_by_subj: subject,
          batch: this.batchSize,
        });
        for await (const m of iter) {
          raw.push(m);
          pending = m.pending;
          last = m.seq;
          got++;
        }
      } catch (err) {
        if (isNotFound(err)) return out;
        throw new UnavailableError(`could not read ${subject} from the event log`, { cause: err });
      }
      // Decoding is outside the try: an unreadable event is an EnvelopeError, not an outage.
      for (const m of raw) out.push(decodeEvent(m));
      if (got === 0 || pending <= 0) return out;
      from = last + 1;
    }
  }

  /** The event at `seq`, or null when there is none. */
  async readEvent(seq: number): Promise<EventEnvelope | null> {
    const jsm = await this.jsmPromise;
    let m;
    try {
      m = await jsm.direct.getMessage(EVENT_STREAM, { seq });
    } catch (err) {
      throw new UnavailableError(`could not read event ${seq} from the event log`, { cause: err });
    }
    return m === null ? null : decodeEvent(m);
  }

  /** The sequence of the first event at or after `fromSeq` whose subject matches `filter`, or null. */
  async nextSeqMatching(filter: string, fromSeq: number): Promise<number | null> {
    const jsm = await this.jsmPromise;
    try {
      const m = await jsm.direct.getMessage(EVENT_STREAM, { seq: fromSeq, next_by_subj: filter });
      return m?.seq ?? null;
    } catch (err) {
      throw new UnavailableError(`could not read the event log after ${fromSeq}`, { cause: err });
    }
  }

  /** The sequence of the last event in the log, 0 when it is empty. */
  async lastSeq(): Promise<number> {
    const jsm = await this.jsmPromise;
    try {
      return (await jsm.streams.info(EVENT_STREAM)).state.last_seq;
    } catch (err) {
      throw new UnavailableError("could not read the event log's state", { cause: err });
    }
  }

  /** The sequence of the last event on `subject`, 0 when it has none. */
  async lastSeqOf(subject: string): Promise<number> {
    let m: Msg | null;
    try {
      m = await this.requests.lastBySubject(EVENT_STREAM, subject);
    } catch (err) {
      throw new UnavailableError(`could not read ${subject} from the event log`, { cause: err });
    }
    if (m === null) return 0;
    const seq = Number(m.headers?.get(DIRECT_SEQUENCE));
    if (!Number.isSafeInteger(seq) || seq < 1)
      throw new UnavailableError(`could not read ${subject} from the event log (no sequence in the answer)`);
    return seq;
  }

  /**
   * Requests for the hot paths (appends, last sequences), sharing one reply subscription; made on
   * first use, so a store that only reads creates none.
   */
  get requests(): Requests {
    return (this.requestsMade ??= new Requests(this.nc, this.timeoutMs));
  }
}

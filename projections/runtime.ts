import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, StorageType, type Consumer, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { decodeEvent, EVENT_STREAM, headersOf, isWrongLastSequence, roomOfSubject, type EventEnvelope } from "../streams/index.ts";
import { BoundedQueue } from "./boundedQueue.ts";
import type { Db } from "./db.ts";
import { Lease, LOCK_BUCKET, openLockBucket } from "./lock.ts";
import { projectionMetrics, type ProjectionMetrics } from "./metrics.ts";
import { applyBatch, CheckpointMovedError, listParked, parkEvents, prepareSchema, readCheckpoint, type ParkedEvent } from "./pgStore.ts";
import type { KvProjection, PgProjection, Projection } from "./projection.ts";

/** What to do with an event that keeps failing. */
export type PoisonPolicy = "hold" | "halt";

export type ProjectorOptions = {
  log: Logger;
  /** The database, for PostgreSQL projections. */
  db?: Db;
  /** The KV buckets a KV projection writes, by name. */
  buckets?: Record<string, KV>;
  /** `hold` (default): park the event, hold later events of its aggregate, go on with the rest. `halt`: stop at it. */
  poison?: PoisonPolicy;
  /** Attempts at a failing event before it is parked. */
  attempts?: number;
  /** The first retry's delay; each next one is four times longer. */
  retryDelayMs?: number;
  /** Events applied per transaction at most; up to twice as many are read ahead meanwhile. */
  batchSize?: number;
  /** The lease's time to live: a dead active instance is replaced within about this long. */
  leaseMs?: number;
  /** How often a standby tries to take over. */
  standbyPollMs?: number;
  /** Where the metrics go. */
  registry?: Registry;
  /** Replicas of the buckets it creates where missing (natter_locks, natter_checkpoints). */
  replicas?: number;
};

/** Opens the checkpoint bucket, creating it where missing with `replicas` (NATTER_STREAM_REPLICAS). */
export async function openCheckpointBucket(nc: NatsConnection, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(KV_CHECKPOINTS, { history: 1, replicas, storage: StorageType.File });
}

/** The state of a projector instance. */
export type ProjectorStatus = "starting" | "standby" | "active" | "halted" | "stopped";

/** The subject on which a projector announces the checkpoint it committed. */
export const appliedSubject = (name: string): string => `natter.projection.${name}.applied`;

/**
 * What a projector announces on `appliedSubject` after each commit. `from` is the checkpoint the
 * batch started at, so a listener that saw an earlier `seq` below `from` knows it missed one (a
 * projector killed between its commit and its announcement). `rooms` are the rooms whose events the
 * batch held; null (or absent) means any room may have changed (a rebuild's swap, a parked event
 * applied by the replay CLI, a batch over many rooms).
 */
export type AppliedAnnouncement = { seq: number; pending?: number; from?: number; rooms?: string[] | null };
/** Above this many rooms an announcement says `rooms: null`. */
const MAX_ANNOUNCED_ROOMS = 1000;

/** Announces a committed checkpoint (see AppliedAnnouncement). */
export function announceApplied(nc: NatsConnection, name: string, a: AppliedAnnouncement): void {
  nc.publish(appliedSubject(name), JSON.stringify(a));
}

/** The rooms of a batch's subjects, or null when there are too many to list. */
function roomsOf(batch: readonly { subject: string }[]): string[] | null {
  const rooms = new Set<string>();
  for (const m of batch) {
    const r = roomOfSubject(m.subject);
    if (r !== null) rooms.add(r);
    if (rooms.size > MAX_ANNOUNCED_ROOMS) return null;
  }
  return [...rooms];
}
/** The bucket where KV projections keep their checkpoints. */
export const KV_CHECKPOINTS = "natter_checkpoints";
/** The consumer of a projection. */
export const consumerName = (name: string): string => `natter_${name}`;
/** The lease key of a projection, and the key that asks its active instance to step aside. */
export const leaseKey = (name: string): string => `projection.${name}`;
export const yieldKey = (name: string): string => `yield.${name}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * An error's message with its causes', innermost first: a database error arrives wrapped in the
 * query builder's "Failed query: ..." (the statement and its parameters), and the reason a parked
 * event failed is the cause.
 */
function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = e instanceof Error ? e.cause : undefined, depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
  }
  // A failed multi-row insert lists every parameter of the batch: keep the head of it.
  const text = parts.reverse().join("; ");
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

/** Another process used this instance's consumer: pulled from it, or set it up at the same moment (see runActive). */
class ConsumerSharedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConsumerSharedError";
  }
}

/**
 * Runs one projection: takes its lease (or stands by until it can), reads its durable consumer
 * from the checkpoint on, applies events in stream order in batches, and parks poison events.
 * Reading runs ahead of applying: each batch is what arrived while the one before was applied.
 */
export class Projector {
  status: ProjectorStatus = "starting";
  /** The last sequence this instance knows applied. */
  checkpoint = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private messages: ConsumerMessages | undefined;
  private lease: Lease | undefined;
  private readonly metrics: ProjectionMetrics;
  private readonly owner = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private held = new Set<string>();
  private yieldRequested = false;
  private kvCheckpoints: KV | undefined;
  private kvCheckpointRevision = 0;

  constructor(
    private readonly nc: NatsConnection,
    readonly projection: Projection,
    private readonly options: ProjectorOptions,
  ) {
    this.metrics = projectionMetrics(options.registry ?? new Registry());
    if (projection.kind === "pg" && options.db === undefined) throw new Error(`projection ${projection.name} needs a database`);
    if (projection.kind === "kv" && options.buckets === undefined) throw new Error(`projection ${projection.name} needs its KV buckets`);
  }

  private get log(): Logger {
    return this.options.log;
  }

  /** Starts the loop in the background; resolves once it runs. */
  start(): void {
    this.running = this.loop().catch((err: unknown) => {
      this.log.error({ err, projection: this.projection.name }, "projector stopped on an error");
      this.status = "stopped";
    });
  }

  /** Stops taking events, finishes the batch under way, gives the lease up. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
    await this.running;
  }

  /**
   * Opens the lease bucket and watches the projection's yield key, trying again until it can (or
   * until stopped): start() runs in the background, so a failure here (NATS not ready yet, the
   * bucket being made by another process at the same moment) must not leave a process that looks
   * alive with its projector dead.
   */
  private async setUp(leaseMs: number): Promise<{ locks: KV; watch: QueuedIterator<KvWatchEntry> } | undefined> {
    for (let failures = 0; !this.stopped; failures++) {
      try {
        const locks = await openLockBucket(this.nc, leaseMs, { replicas: this.options.replicas, log: this.log });
        return { locks, watch: await locks.watch({ key: yieldKey(this.projection.name) }) };
      } catch (err) {
        this.log.warn({ projection: this.projection.name, err: errorText(err) }, `cannot open the lease bucket ${LOCK_BUCKET}: trying again`);
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
      }
    }
    return undefined;
  }

  private async loop(): Promise<void> {
    const leaseMs = this.options.leaseMs ?? 5000;
    const setUp = await this.setUp(leaseMs);
    if (setUp === undefined) {
      this.status = "stopped";
      return;
    }
    const { locks, watch } = setUp;
    void (async () => {
      for await (const e of watch) {
        this.yieldRequested = e.operation === "PUT";
        if (this.yieldRequested) this.messages?.stop();
      }
    })();
    let failures = 0;
    try {
      while (!this.stopped) {
        if (this.yieldRequested) {
          this.status = "standby";
          await sleep(this.options.standbyPollMs ?? 250);
          continue;
        }
        // Losing the lease ends the consume loop at once, even while no event arrives.
        const lease = new Lease(locks, leaseKey(this.projection.name), this.owner, leaseMs, () => this.messages?.stop());
        if (!(await lease.tryAcquire())) {
          if (this.status !== "standby") {
            const holder = await Lease.holder(locks, leaseKey(this.projection.name)).catch(() => null);
            this.log.info({ projection: this.projection.name, holder }, "projector standing by");
          }
          this.status = "standby";
          await sleep(this.options.standbyPollMs ?? 500);
          continue;
        }
        this.lease = lease;
        this.metrics.active.set({ projection: this.projection.name }, 1);
        let failed = false;
        try {
          await this.runActive();
          failures = 0;
        } catch (err) {
          if (err instanceof ConsumerSharedError) {
            this.log.warn({ projection: this.projection.name, err: errorText(err) }, "another process used this projection's consumer: starting over from the checkpoint");
          } else if (err instanceof CheckpointMovedError) {
            this.log.warn({ projection: this.projection.name, err: errorText(err) }, "another instance moved the checkpoint: standing by");
          } else if (!(await lease.held().catch(() => true))) {
            // It failed because it stopped holding the lease while at work: frozen past the lease
            // (a request timed out on waking). Another instance has the projection. (Where the lease
            // cannot be read, NATS itself is in trouble: that is the error below.)
            this.log.warn({ projection: this.projection.name, err: errorText(err) }, "lost the lease while at work: standing by");
          } else {
            // A database or NATS failure: give the lease up and try again, rather than leave the
            // projection dead in a process that looks alive.
            this.log.error({ projection: this.projection.name, err: errorText(err) }, "projector failed: trying again");
            this.metrics.failures.inc({ projection: this.projection.name });
            failures = Math.min(failures + 1, 7);
            failed = true;
          }
        } finally {
          this.metrics.active.set({ projection: this.projection.name }, 0);
          this.messages?.stop();
          await lease.release();
          this.lease = undefined;
        }
        if (failed && !this.stopped) await sleep(Math.min(5000, 250 * 2 ** failures));
      }
    } finally {
      watch.stop();
      this.status = "stopped";
    }
  }

  /** While the lease holds: catch up from the checkpoint and follow the log. */
  private async runActive(): Promise<void> {
    const p = this.projection;
    let startAfter: number;
    if (p.kind === "pg") {
      const db = this.options.db!;
      const cp = await prepareSchema(db, p, p.liveSchema);
      if (cp.version !== p.version) {
        this.log.error(
          { projection: p.name, live: cp.version, code: p.version },
          `the live ${p.name} read model is version ${cp.version}, this code builds version ${p.version}: run "npm run replay -- rebuild ${p.name}"`,
        );
        this.status = "standby";
        await sleep(10_000);
        return;
      }
      startAfter = cp.seq;
      await this.refreshHeld();
    } else {
      this.kvCheckpoints ??= await openCheckpointBucket(this.nc, this.options.replicas);
      const stored = await this.kvCheckpoints.get(p.name);
      startAfter = stored?.operation === "PUT" ? Number(stored.string()) : 0;
      this.kvCheckpointRevision = stored?.revision ?? 0;
    }
    this.checkpoint = startAfter;
    const jsm = await jetstreamManager(this.nc);
    const name = consumerName(p.name);
    // Setting up took a while (a database lock, a pause): do not delete the new holder's consumer.
    if (this.lease?.lost) return;
    // The consumer is only a cursor: recreate it at the checkpoint, so nothing the previous
    // holder took but did not apply waits for its ack timeout.
    let consumer: Consumer;
    try {
      await jsm.consumers.delete(EVENT_STREAM, name).catch(() => false);
      const info = await jsm.consumers.add(EVENT_STREAM, {
        durable_name: name,
        filter_subjects: [...p.filterSubjects],
        ack_policy: AckPolicy.All,
        deliver_policy: startAfter > 0 ? DeliverPolicy.StartSequence : DeliverPolicy.All,
        ...(startAfter > 0 ? { opt_start_seq: startAfter + 1 } : {}),
        max_ack_pending: 20_000,
        ack_wait: 30_000_000_000,
        inactive_threshold: 0,
      });
      this.metrics.lagEvents.set({ projection: p.name }, info.num_pending);
      if (info.num_pending === 0) this.metrics.lagSeconds.set({ projection: p.name }, 0);
      consumer = await jetstream(this.nc).consumers.get(EVENT_STREAM, name);
    } catch (err) {
      // An instance that lost its lease while paused here, resumed, deleted or recreated it meanwhile.
      if (err instanceof JetStreamApiError) throw new ConsumerSharedError(`the consumer of ${p.name} could not be set up: ${err.message}`, { cause: err });
      throw err;
    }
    const batchSize = this.options.batchSize ?? 500;
    this.status = "active";
    this.log.info({ projection: p.name, from: startAfter + 1 }, "projector active");
    // Readers that keep answers (the read API's timeline cache) learn where it starts: an
    // announcement the instance before it never made shows as a gap at once.
    announceApplied(this.nc, p.name, { seq: startAfter, from: startAfter, rooms: [] });
    this.messages = await consumer.consume({ max_messages: batchSize * 2 });
    // A stop or a yield request that came while the consumer was being set up stopped the previous
    // iterator, not this one: without this, the loop would wait for the next event holding the lease.
    // So did a lease lost meanwhile (onLost): the loop would then wait, holding nothing, on a
    // consumer the new holder deletes, and never stand by again.
    if (this.stopped || this.yieldRequested || this.lease?.lost) this.messages.stop();
    // The reader goes on receiving while a batch is applied, so the next batch is everything that
    // arrived meanwhile: applying one event per transaction as they trickle in would never work off
    // a backlog that built up once (a pause, a slow commit), and the lag would stay.
    const queue = new BoundedQueue<JsMsg>(batchSize * 2);
    const reading = this.read(this.messages, queue);
    try {
      for (;;) {
        const batch = await queue.take(batchSize);
        // Stopping, a yield request and a lost lease all stop the consumer, which closes the queue;
        // a batch taken just before must not be written either.
        if (batch.length === 0 || this.lease?.lost || this.stopped || this.yieldRequested) return;
        if (await this.process(batch)) break;
      }
    } finally {
      this.messages.stop();
      queue.close();
      await reading;
    }
    // Halted at a poison event, with the consumer stopped.
    await this.waitWhileHalted();
  }

  /**
   * Moves the consumer's messages into `queue` in delivery order until the consumer stops (then
   * closes the queue) or a delivery is out of sequence (then fails it with ConsumerSharedError).
   */
  private async read(messages: ConsumerMessages, queue: BoundedQueue<JsMsg>): Promise<void> {
    const p = this.projection;
    let delivered = 0;
    try {
      for await (const m of messages) {
        // This consumer is new and only this instance should pull from it, so its deliveries come
        // numbered 1, 2, 3... A gap means another process pulled some: an instance that lost its
        // lease while paused, whose client re-pulled from the consumer of the same name. Going on
        // would skip the events it took (and acknowledging past them would drop them for good):
        // start over from the checkpoint with a new consumer.
        if (m.info.deliverySequence !== delivered + 1) {
          throw new ConsumerSharedError(`the consumer of ${p.name} delivered #${m.info.deliverySequence} where #${delivered + 1} was next: another process pulled from it`);
        }
        delivered = m.info.deliverySequence;
        if (!(await queue.push(m))) return;
      }
      queue.close();
    } catch (err) {
      queue.fail(err);
    }
  }

  /** Applies one batch of messages; true when the projection halted at a poison event. */
  private async process(batch: JsMsg[]): Promise<boolean> {
    const p = this.projection;
    const last = batch.at(-1)!;
    const from = this.checkpoint;
    const events: EventEnvelope[] = [];
    const undecodable: { m: JsMsg; error: string }[] = [];
    for (const m of batch) {
      if (m.seq <= this.checkpoint) continue;
      try {
        events.push(decodeEvent({ seq: m.seq, subject: m.subject, time: new Date(Math.floor(m.info.timestampNanos / 1e6)), header: headersOf(m), data: m.data }));
      } catch (err) {
        undecodable.push({ m, error: errorText(err) });
      }
    }
    if (p.kind === "kv") {
      for (const u of undecodable) this.log.error({ projection: p.name, seq: u.m.seq, error: u.error }, "undecodable event skipped");
      await p.apply(this.options.buckets!, events);
      await this.putKvCheckpoint(last.seq);
    } else if (undecodable.length === 0 && !events.some((e) => this.held.has(e.subject))) {
      try {
        if (events.length > 0) this.checkpoint = await applyBatch(this.options.db!, p, p.liveSchema, events, this.checkpoint, this.options.leaseMs);
      } catch (err) {
        if (err instanceof CheckpointMovedError) throw err;
        this.log.warn({ projection: p.name, err: errorText(err), from: events[0]?.seq, to: events.at(-1)?.seq }, "batch failed: applying its events one by one");
        if (await this.processOneByOne(p, events, [])) return this.announceHalt(from, batch);
      }
    } else if (await this.processOneByOne(p, events, undecodable)) {
      return this.announceHalt(from, batch);
    }
    last.ack();
    this.publishApplied(last, events.length, from, roomsOf(batch));
    return false;
  }

  /** Halted part-way through a batch: announces what it did apply before the halt. */
  private announceHalt(from: number, batch: JsMsg[]): true {
    if (this.checkpoint > from) announceApplied(this.nc, this.projection.name, { seq: this.checkpoint, from, rooms: roomsOf(batch) });
    return true;
  }

  /** Applies events one at a time with retries, parking those that keep failing. True when halted. */
  private async processOneByOne(p: PgProjection, events: EventEnvelope[], undecodable: { m: JsMsg; error: string }[]): Promise<boolean> {
    const db = this.options.db!;
    const bad = new Map(undecodable.map((u) => [u.m.seq, u]));
    const all = [...events.map((e) => ({ seq: e.seq, subject: e.subject, event: e as EventEnvelope | undefined })), ...undecodable.map((u) => ({ seq: u.m.seq, subject: u.m.subject, event: undefined }))].sort((a, b) => a.seq - b.seq);
    for (const item of all) {
      const type = item.event?.type ?? bad.get(item.seq)?.m.headers?.get("Natter-Type") ?? "unknown";
      if (this.held.has(item.subject)) {
        await this.refreshHeld();
        if (this.held.has(item.subject)) {
          await parkEvents(db, p.liveSchema, p.name, [{ seq: item.seq, subject: item.subject, type, status: "held", error: "waits behind an earlier parked event of its aggregate", attempts: 0 }], this.checkpoint, item.seq);
          this.checkpoint = item.seq;
          this.updateParkedMetric();
          continue;
        }
      }
      let error = bad.get(item.seq)?.error;
      let attempts = 0;
      if (item.event !== undefined) {
        const max = this.options.attempts ?? 3;
        for (attempts = 1; attempts <= max; attempts++) {
          try {
            this.checkpoint = await applyBatch(db, p, p.liveSchema, [item.event], this.checkpoint, this.options.leaseMs);
            error = undefined;
            break;
          } catch (err) {
            if (err instanceof CheckpointMovedError) throw err;
            error = errorText(err);
            if (attempts < max) await sleep((this.options.retryDelayMs ?? 100) * 4 ** (attempts - 1));
          }
        }
        if (error === undefined) continue;
        attempts = Math.min(attempts, this.options.attempts ?? 3);
      }
      const halt = (this.options.poison ?? "hold") === "halt";
      this.log.error({ projection: p.name, seq: item.seq, subject: item.subject, type, error, halt }, halt ? "poison event: halting" : "poison event parked");
      await parkEvents(db, p.liveSchema, p.name, [{ seq: item.seq, subject: item.subject, type, status: halt ? "halted" : "failed", error: error ?? "unknown error", attempts }], this.checkpoint, halt ? null : item.seq);
      this.updateParkedMetric();
      if (halt) return true;
      this.checkpoint = item.seq;
      this.held.add(item.subject);
    }
    return false;
  }

  /**
   * Moves a KV projection's checkpoint, compare-and-set on the revision this instance read or wrote
   * last, so that an instance that lost its lease (paused, then resumed in the middle of a batch)
   * cannot move it back behind the one that took over. Throws CheckpointMovedError then.
   */
  private async putKvCheckpoint(seq: number): Promise<void> {
    const kv = this.kvCheckpoints!;
    try {
      this.kvCheckpointRevision =
        this.kvCheckpointRevision === 0 ? await kv.create(this.projection.name, String(seq)) : await kv.update(this.projection.name, String(seq), this.kvCheckpointRevision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new CheckpointMovedError(`${this.projection.name} (in ${KV_CHECKPOINTS})`, this.checkpoint);
      throw err;
    }
    this.checkpoint = seq;
  }

  /** Waits until the halting event is retried or skipped (by the replay CLI), or the lease is lost. */
  private async waitWhileHalted(): Promise<void> {
    this.status = "halted";
    const p = this.projection as PgProjection;
    this.metrics.halted.set({ projection: p.name }, 1);
    try {
      while (!this.stopped && !this.lease?.lost && !this.yieldRequested) {
        const parked = await listParked(this.options.db!, p.liveSchema);
        if (!parked.some((x) => x.status === "halted")) return;
        await sleep(500);
      }
    } finally {
      this.metrics.halted.set({ projection: p.name }, 0);
    }
  }

  private async refreshHeld(): Promise<void> {
    const p = this.projection;
    if (p.kind !== "pg") return;
    const parked = await listParked(this.options.db!, p.liveSchema);
    this.held = new Set(parked.filter((x: ParkedEvent) => x.status !== "halted").map((x) => x.subject));
    this.metrics.parked.set({ projection: p.name }, parked.length);
  }

  private updateParkedMetric(): void {
    const p = this.projection;
    if (p.kind !== "pg") return;
    void listParked(this.options.db!, p.liveSchema).then(
      (rows) => this.metrics.parked.set({ projection: p.name }, rows.length),
      () => undefined,
    );
  }

  private publishApplied(last: JsMsg, count: number, from: number, rooms: string[] | null): void {
    const name = this.projection.name;
    this.metrics.applied.inc({ projection: name }, count);
    const pending = last.info.pending;
    this.metrics.lagEvents.set({ projection: name }, pending);
    this.metrics.lagSeconds.set({ projection: name }, pending > 0 ? Math.max(0, Date.now() - last.info.timestampNanos / 1e6) / 1000 : 0);
    announceApplied(this.nc, name, { seq: this.checkpoint, pending, from, rooms });
  }

  /** The checkpoint stored for this projection (PostgreSQL), or this instance's own (KV). */
  async storedCheckpoint(): Promise<number> {
    const p = this.projection;
    if (p.kind === "kv") {
      const e = await this.kvCheckpoints?.get(p.name);
      return e?.operation === "PUT" ? Number(e.string()) : this.checkpoint;
    }
    return (await readCheckpoint(this.options.db!, p.liveSchema, p.name))?.seq ?? 0;
  }
}

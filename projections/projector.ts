import { jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { KvWatchEntry, KV } from "@nats-io/kv";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { decodeConsumed, type EventEnvelope } from "../streams/index.ts";
import { announceApplied, announcedRooms } from "./announcements.ts";
import { BoundedQueue } from "./boundedQueue.ts";
import { ConsumerSharedError, readInOrder, recreateConsumer } from "./consumer.ts";
import type { Db } from "./db.ts";
import { errorText } from "./errorText.ts";
import { KvCheckpoint, openCheckpointBucket } from "./kvCheckpoint.ts";
import { Lease, openLockBucket } from "./lock.ts";
import { projectionMetrics, type ProjectionMetrics } from "./metrics.ts";
import { leaseKey, LOCK_BUCKET, yieldKey } from "./names.ts";
import { Parking, type PoisonOptions, type Undecodable } from "./parking.ts";
import { applyBatch, CheckpointMovedError, prepareSchema, readCheckpoint } from "./pgStore.ts";
import type { Projection } from "./projection.ts";

export type ProjectorOptions = PoisonOptions & {
  log: Logger;
  /** The database, for PostgreSQL projections. */
  db?: Db;
  /** The KV buckets a KV projection writes, by name. */
  buckets?: Record<string, KV>;
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

/** The state of a projector instance. */
export type ProjectorStatus = "starting" | "standby" | "active" | "halted" | "stopped";

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
  /** A PostgreSQL projection's parked events. */
  private readonly parking: Parking | undefined;
  private yieldRequested = false;
  private kvCheckpoint: KvCheckpoint | undefined;

  constructor(
    private readonly nc: NatsConnection,
    readonly projection: Projection,
    private readonly options: ProjectorOptions,
  ) {
    this.metrics = projectionMetrics(options.registry ?? new Registry());
    if (projection.kind === "pg" && options.db === undefined)
      throw new Error(`projection ${projection.name} needs a database`);
    if (projection.kind === "kv" && options.buckets === undefined)
      throw new Error(`projection ${projection.name} needs its KV buckets`);
    this.parking =
      projection.kind === "pg" ? new Parking(options.db!, projection, options.log, this.metrics, options) : undefined;
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
        this.log.warn(
          { projection: this.projection.name, err: errorText(err) },
          `cannot open the lease bucket ${LOCK_BUCKET}: trying again`,
        );
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
      }
    }
    return undefined;
  }

  /** Until stopped: stands by, or holds the lease and runs active, starting over after a failure. */
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
        const lease = new Lease(locks, leaseKey(this.projection.name), this.owner, leaseMs, () =>
          this.messages?.stop(),
        );
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
            this.log.warn(
              { projection: this.projection.name, err: errorText(err) },
              "another process used this projection's consumer: starting over from the checkpoint",
            );
          } else if (err instanceof CheckpointMovedError) {
            this.log.warn(
              { projection: this.projection.name, err: errorText(err) },
              "another instance moved the checkpoint: standing by",
            );
          } else if (!(await lease.held().catch(() => true))) {
            // It failed because it stopped holding the lease while at work: frozen past the lease
            // (a request timed out on waking). Another instance has the projection. (Where the lease
            // cannot be read, NATS itself is in trouble: that is the error below.)
            this.log.warn(
              { projection: this.projection.name, err: errorText(err) },
              "lost the lease while at work: standing by",
            );
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
      await this.parking!.refreshHeld();
    } else {
      this.kvCheckpoint ??= new KvCheckpoint(await openCheckpointBucket(this.nc, this.options.replicas), p.name);
      startAfter = await this.kvCheckpoint.load();
    }
    this.checkpoint = startAfter;
    const jsm = await jetstreamManager(this.nc);
    // Setting up took a while (a database lock, a pause): do not delete the new holder's consumer.
    if (this.lease?.lost) return;
    const consumer = await recreateConsumer(this.nc, jsm, p, startAfter, this.metrics);
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
    const reading = readInOrder(this.messages, queue, p.name);
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
    this.status = "halted";
    await this.parking!.waitWhileHalted(() => !this.stopped && !this.lease?.lost && !this.yieldRequested);
  }

  /** Applies one batch of messages; true when the projection halted at a poison event. */
  private async process(batch: JsMsg[]): Promise<boolean> {
    const p = this.projection;
    const last = batch.at(-1)!;
    const from = this.checkpoint;
    const events: EventEnvelope[] = [];
    const undecodable: Undecodable[] = [];
    for (const m of batch) {
      if (m.seq <= this.checkpoint) continue;
      try {
        events.push(decodeConsumed(m));
      } catch (err) {
        undecodable.push({ m, error: errorText(err) });
      }
    }
    if (p.kind === "kv") {
      for (const u of undecodable)
        this.log.error({ projection: p.name, seq: u.m.seq, error: u.error }, "undecodable event skipped");
      await p.apply(this.options.buckets!, events);
      await this.kvCheckpoint!.put(last.seq, this.checkpoint);
      this.checkpoint = last.seq;
    } else if (undecodable.length === 0 && !events.some((e) => this.parking!.held.has(e.subject))) {
      try {
        if (events.length > 0)
          this.checkpoint = await applyBatch(
            this.options.db!,
            p,
            p.liveSchema,
            events,
            this.checkpoint,
            this.options.leaseMs,
          );
      } catch (err) {
        if (err instanceof CheckpointMovedError) throw err;
        this.log.warn(
          { projection: p.name, err: errorText(err), from: events[0]?.seq, to: events.at(-1)?.seq },
          "batch failed: applying its events one by one",
        );
        if (await this.parking!.applyOneByOne(this, events, [])) return this.announceHalt(from, batch);
      }
    } else if (await this.parking!.applyOneByOne(this, events, undecodable)) {
      return this.announceHalt(from, batch);
    }
    last.ack();
    this.publishApplied(last, events.length, from, announcedRooms(batch));
    return false;
  }

  /** Halted part-way through a batch: announces what it did apply before the halt. */
  private announceHalt(from: number, batch: JsMsg[]): true {
    if (this.checkpoint > from)
      announceApplied(this.nc, this.projection.name, { seq: this.checkpoint, from, rooms: announcedRooms(batch) });
    return true;
  }

  private publishApplied(last: JsMsg, count: number, from: number, rooms: string[] | null): void {
    const name = this.projection.name;
    this.metrics.applied.inc({ projection: name }, count);
    const pending = last.info.pending;
    this.metrics.lagEvents.set({ projection: name }, pending);
    this.metrics.lagSeconds.set(
      { projection: name },
      pending > 0 ? Math.max(0, Date.now() - last.info.timestampNanos / 1e6) / 1000 : 0,
    );
    announceApplied(this.nc, name, { seq: this.checkpoint, pending, from, rooms });
  }

  /** The checkpoint stored for this projection (PostgreSQL), or this instance's own (KV). */
  async storedCheckpoint(): Promise<number> {
    const p = this.projection;
    if (p.kind === "kv") return (await this.kvCheckpoint?.read()) ?? this.checkpoint;
    return (await readCheckpoint(this.options.db!, p.liveSchema, p.name))?.seq ?? 0;
  }
}

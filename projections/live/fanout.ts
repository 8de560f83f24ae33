import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { Registry } from "prom-client";
import { EVENTS, RoomId, type LiveEvent, type RoomState } from "../../domain/index.ts";
import { decodeConsumed, ensureBuckets, EVENT_STREAM, EventStore, type EventEnvelope } from "../../streams/index.ts";
import { Lease, openLockBucket } from "../lock.ts";
import { THREADS_BUCKET, threadRepliers } from "../threads/projection.ts";
import { countPublished, liveMetrics, type LiveMetrics } from "./liveMetrics.ts";
import { EventRouter } from "./eventRouter.ts";
import { roomsOfUser } from "./kvLastValues.ts";
import { PositionRecord } from "./positionRecord.ts";
import { audienceOf, RoomCache, type RoomEntry } from "./roomCache.ts";
import { liveEventOf, NONE, ROUTE_KINDS, type Routes } from "./routes.ts";

/** The fan-out's lease key in the `natter_locks` bucket. */
export const FANOUT_LEASE_KEY = "live.fanout";
/** The key in `natter_checkpoints` where the active fan-out records the last sequence it handled. */
export const FANOUT_REACHED_KEY = "live.fanout";
/** The subjects the fan-out reads: rooms, messages, and profiles (for their users and the people who share a room with them). */
export const FANOUT_SUBJECTS: readonly string[] = ["ev.room.*", "ev.msg.*.*", "ev.user.*"];

/** Something started alongside the active fan-out, stopped when it stops being active. */
export type Stoppable = { stop(): Promise<void> };
/** Starts a part that lives while this instance is the active fan-out (typing, presence). */
export type LiveTask = (live: LiveFanout) => Promise<Stoppable> | Stoppable;

/** How a fan-out runs; every option has a default. */
export type FanoutOptions = {
  /** Where it logs (default: nowhere). */
  log?: Logger;
  /** Where the metrics go (default: a registry of its own). */
  registry?: Registry;
  /** Room states cached for membership (default 10,000). */
  roomCacheSize?: number;
  /** Posts remembered, for a thread root's author and an edit's mentions (default 50,000). */
  postCacheSize?: number;
  /** Threads whose participants are remembered (default 10,000). */
  threadCacheSize?: number;
  /** The lease's time to live: a dead active instance is replaced within about this long (default 5,000 ms). */
  leaseMs?: number;
  /** Replicas of the buckets it creates where missing (NATTER_STREAM_REPLICAS; default 1). */
  replicas?: number;
  /** How often a standby tries to take over (default 500 ms). */
  standbyPollMs?: number;
  /** How often at most the active instance records how far it got (default 1,000 ms). */
  reachedEveryMs?: number;
  /** A new active instance resumes where the previous one got if that was recorded at most this long ago, else from the end (default 60,000 ms). */
  resumeWindowMs?: number;
  /** Messages the consumer buffers (default 1,000). */
  readAhead?: number;
  /** Parts to run while this instance is active, each given the fan-out (see LiveTask). */
  whileActive?: readonly LiveTask[];
};

/** The state of a fan-out instance. */
export type FanoutStatus = "starting" | "standby" | "active" | "stopped";

/** A running fan-out instance (startFanout). */
export type LiveFanout = {
  readonly status: FanoutStatus;
  /** The last stream sequence this instance handled while active (0 before). */
  readonly position: number;
  /**
   * Publishes a live event (an ephemeral one: `Presence`, `Typing`) to a room's audience as its
   * stored events go (`live.room.<roomId>`, or each member's `deliver.<uid>.room.<roomId>`). The
   * membership is the active fan-out's, from its cache; on a standby it is read as of the end of
   * the log (one direct get per call, more when the room changed), so a part that runs its own
   * leader election (presence) may call it from any instance. Does nothing for a room that does
   * not exist or once stopped; rejects only when the room cannot be read. Safe to pass unbound.
   */
  publishToRoom(roomId: string, event: LiveEvent): Promise<void>;
  /** The room's state, as publishToRoom sees it; undefined for an invalid id or once stopped. */
  room(roomId: string): Promise<RoomState | undefined>;
  /** Resolves once this instance is active; rejects if it is stopped first. */
  whenActive(): Promise<void>;
  /** Stops delivering, records how far it got, and gives the lease up so a standby takes over at once. */
  stop(): Promise<void>;
};

/** What one active period holds: caches are rebuilt each time, as the log moved on meanwhile. */
type Active = { lease: Lease; router: EventRouter; position: number };

const encoder = new TextEncoder();

/**
 * Starts live delivery's fan-out (docs/read-side.md, "Live delivery"). One instance is active at a
 * time, through a Lease on `live.fanout` in `natter_locks`; the others stand by and take over
 * within about `leaseMs` when it dies, or at once when it stops. The active one reads the log
 * with an ordered consumer from the end of the stream as it finds it (live delivery is not a
 * replay: clients catch up through the read API), or, taking over, from where the previous active
 * instance recorded it got (`natter_checkpoints`, key `live.fanout`, written at most every
 * `reachedEveryMs`; after a crash the last second or so may be delivered twice, each with its
 * `seq`). Each room, message and profile event is published with plain core publish to the
 * subjects routesOf names, a profile event also to the audience of each room its user is in (KV
 * `user_rooms`); an event that cannot be decoded or routed is logged and skipped (the log stays
 * the truth).
 *
 * @example
 * const live = await startFanout(nc, { log, registry, whileActive: [(l) => startTyping(nc, l, { log })] });
 * await live.stop();
 */
export async function startFanout(nc: NatsConnection, options: FanoutOptions = {}): Promise<LiveFanout> {
  const locks = await openLockBucket(nc, options.leaseMs ?? 5000, { replicas: options.replicas, log: options.log });
  const fanout = new Fanout(nc, locks, options);
  fanout.start();
  return fanout;
}

class Fanout implements LiveFanout {
  status: FanoutStatus = "starting";
  private stopped = false;
  private running: Promise<void> | undefined;
  private messages: ConsumerMessages | undefined;
  private active: Active | undefined;
  private record: PositionRecord | undefined;
  private standbyRooms: RoomCache | undefined;
  private wake: (() => void) | undefined;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly store: EventStore;
  private jsm: JetStreamManager | undefined;
  private readonly log: Logger;
  private readonly metrics: LiveMetrics;
  private readonly owner = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly nc: NatsConnection,
    private readonly locks: KV,
    private readonly options: FanoutOptions,
  ) {
    this.store = new EventStore(nc);
    this.log = options.log ?? pino({ level: "silent" });
    this.metrics = liveMetrics(options.registry ?? new Registry());
  }

  get position(): number {
    return this.active?.position ?? 0;
  }

  start(): void {
    this.running = this.loop().catch((err: unknown) => this.log.error({ err }, "live fan-out stopped on an error"));
  }

  /** The room as of the fan-out's position while active; as of the end of the log on a standby. */
  private async roomEntry(roomId: string): Promise<RoomEntry | undefined> {
    const a = this.active;
    if (this.stopped || !RoomId.is(roomId)) return undefined;
    if (a === undefined) {
      this.standbyRooms ??= new RoomCache(this.store, this.options.roomCacheSize ?? 10_000, () =>
        this.metrics.cacheMisses.inc({ cache: "standby_rooms" }),
      );
      return this.standbyRooms.latest(roomId);
    }
    const entry = await a.router.room(roomId, a.position + 1);
    return this.active === a ? entry : undefined;
  }

  readonly room = async (roomId: string): Promise<RoomState | undefined> => (await this.roomEntry(roomId))?.state;

  readonly publishToRoom = async (roomId: string, event: LiveEvent): Promise<void> => {
    const entry = await this.roomEntry(roomId);
    if (entry !== undefined)
      this.publish(event, { room: audienceOf(entry), thread: NONE, mention: NONE, notice: NONE });
  };

  whenActive(): Promise<void> {
    if (this.status === "active") return Promise.resolve();
    if (this.status === "stopped") return Promise.reject(new Error("the fan-out is stopped"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.messages?.stop();
    await this.running;
  }

  private setStatus(status: FanoutStatus): void {
    this.status = status;
    if (status !== "active" && status !== "stopped") return;
    for (const w of this.waiters.splice(0))
      status === "active" ? w.resolve() : w.reject(new Error("the fan-out is stopped"));
  }

  /** Waits `ms`, or less when stopped meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private async loop(): Promise<void> {
    const leaseMs = this.options.leaseMs ?? 5000;
    let failures = 0;
    while (!this.stopped) {
      // Losing the lease ends the consume loop at once, even while no event arrives.
      const lease = new Lease(this.locks, FANOUT_LEASE_KEY, this.owner, leaseMs, () => this.messages?.stop());
      if (!(await lease.tryAcquire())) {
        if (this.status !== "standby")
          this.log.info(
            { holder: await Lease.holder(this.locks, FANOUT_LEASE_KEY).catch(() => null) },
            "live fan-out standing by",
          );
        this.setStatus("standby");
        await this.pause(this.options.standbyPollMs ?? 500);
        continue;
      }
      try {
        await this.runActive(lease);
        failures = 0;
      } catch (err) {
        failures = Math.min(failures + 1, 5);
        this.log.error({ err }, "live fan-out failed: trying again");
      } finally {
        await lease.release();
      }
      if (!this.stopped) this.setStatus("standby");
      if (failures > 0 && !this.stopped) await this.pause(250 * 2 ** failures);
    }
    this.setStatus("stopped");
  }

  /** The bucket of thread repliers (made here if the projections have not yet), or undefined when it cannot be opened. */
  private async threadsBucket(): Promise<KV | undefined> {
    try {
      return await new Kvm(this.nc).open(THREADS_BUCKET);
    } catch {
      // Not made yet (the projections part not started): make natter's buckets as they are made at start.
    }
    try {
      return (await ensureBuckets(this.nc, { replicas: this.options.replicas }))[THREADS_BUCKET];
    } catch (err) {
      this.log.warn(
        { err },
        `live fan-out: the ${THREADS_BUCKET} bucket cannot be opened: thread replies reach only the repliers seen since it started`,
      );
      return undefined;
    }
  }

  /** While the lease holds: follow the log from the resume point, with the tasks running. */
  private async runActive(lease: Lease): Promise<void> {
    const record = (this.record ??= await PositionRecord.open(
      this.nc,
      FANOUT_REACHED_KEY,
      this.options.resumeWindowMs ?? 60_000,
      this.log,
      this.options.replicas,
    ));
    const from = await record.resumePoint(await this.store.lastSeq());
    if (this.stopped || lease.lost) return;
    const consumer = await jetstream(this.nc).consumers.get(EVENT_STREAM, {
      filter_subjects: [...FANOUT_SUBJECTS],
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from + 1,
    });
    const messages = await consumer.consume({ max_messages: this.options.readAhead ?? 1000 });
    this.messages = messages;
    // A stop or a lost lease that came while the consumer was set up stopped no iterator.
    if (this.stopped || lease.lost) messages.stop();
    const sizes = {
      rooms: this.options.roomCacheSize ?? 10_000,
      posts: this.options.postCacheSize ?? 50_000,
      threads: this.options.threadCacheSize ?? 10_000,
    };
    const threads = await this.threadsBucket();
    const repliers = async (roomId: string, rootId: string): Promise<readonly string[]> => {
      if (threads === undefined) return [];
      try {
        return await threadRepliers(threads, roomId, rootId);
      } catch (err) {
        this.log.warn({ err, roomId, rootId }, "live fan-out: thread repliers unreadable, the root's author only");
        return [];
      }
    };
    const a: Active = {
      lease,
      router: new EventRouter(this.store, sizes, (cache) => this.metrics.cacheMisses.inc({ cache }), repliers),
      position: from,
    };
    this.active = a;
    this.metrics.active.set(1);
    this.log.info({ from: from + 1 }, "live fan-out active");
    // An instance that lost its lease must not move the record back behind the new holder's.
    const save = (final: boolean) => (lease.lost ? Promise.resolve() : record.save(() => a.position, final));
    const saver = setInterval(() => void save(false), this.options.reachedEveryMs ?? 1000);
    const tasks: Stoppable[] = [];
    try {
      for (const start of this.options.whileActive ?? []) tasks.push(await start(this));
      this.setStatus("active");
      for await (const m of messages) await this.handle(a, m);
    } finally {
      this.active = undefined;
      clearInterval(saver);
      messages.stop();
      this.metrics.active.set(0);
      this.metrics.lagSeconds.set(0);
      for (const r of await Promise.allSettled(tasks.map((t) => t.stop())))
        if (r.status === "rejected") this.log.warn({ err: r.reason }, "a live task failed to stop");
      await this.nc.flush().catch(() => undefined);
      await save(true);
    }
  }

  private async handle(a: Active, m: JsMsg): Promise<void> {
    let env: EventEnvelope | undefined;
    try {
      env = decodeConsumed(m);
    } catch (err) {
      this.log.warn(
        { seq: m.seq, subject: m.subject, err: err instanceof Error ? err.message : String(err) },
        "undecodable event: not delivered live",
      );
      this.metrics.skipped.inc({ reason: "undecodable" });
    }
    if (env !== undefined) {
      try {
        const event = liveEventOf(env);
        this.publish(event, await a.router.route(env));
        if (EVENTS[env.type].aggregate === "user") await this.toRoomsOf(event);
      } catch (err) {
        this.log.error({ seq: m.seq, subject: m.subject, err }, "event not delivered live");
        this.metrics.skipped.inc({ reason: "unroutable" });
      }
    }
    a.position = m.seq;
    const pending = m.info.pending;
    this.metrics.lagSeconds.set(pending > 0 ? Math.max(0, Date.now() - m.info.timestampNanos / 1e6) / 1000 : 0);
  }

  /**
   * A profile change goes to every room its user is in, as the room's events do, so that everyone
   * who may see that person's name sees the new one at once.
   */
  private async toRoomsOf(event: LiveEvent): Promise<void> {
    const userId = event.payload["userId"];
    if (typeof userId !== "string") return;
    this.jsm ??= await jetstreamManager(this.nc);
    const rooms = await roomsOfUser(this.jsm, userId);
    await Promise.all(rooms.map((roomId) => this.publishToRoom(roomId, { ...event, roomId })));
  }

  /** One JSON encoding, then a core publish per subject: no request, nothing awaited. */
  private publish(event: LiveEvent, routes: Routes): void {
    const data = encoder.encode(JSON.stringify(event));
    for (const kind of ROUTE_KINDS) for (const subject of routes[kind]) this.nc.publish(subject, data);
    this.metrics.events.inc({ type: event.type });
    countPublished(this.metrics, routes);
  }
}

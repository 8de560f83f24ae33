import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { Msg, NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import { z } from "zod";
import {
  ID_PATTERN,
  liveSubjects,
  PRESENCE_STATUSES,
  PresenceHeartbeat,
  RateLimiter,
  type LiveEvent,
  type PresenceStatus,
  type RateLimit,
} from "../../domain/index.ts";
import { ensureBuckets } from "../../streams/index.ts";
import { Lease, openLockBucket } from "../lock.ts";
import { kvLastValues, roomsOfUser } from "./kvLastValues.ts";

/** The lease key (bucket `natter_locks`) of the instance that sweeps and announces. */
export const PRESENCE_LEASE_KEY = "live.presence";
/** The queue group in which instances share the heartbeats. */
export const PRESENCE_QUEUE = "presence";
const BUCKET = "presence";

export type PresenceOptions = {
  /** Sends a live event to a room the way the room's own events go (the fan-out's router). */
  publishToRoom: (roomId: string, event: LiveEvent) => Promise<void>;
  /** The rooms a user is a member of (default: the user's keys `<userId>.*` of KV `user_rooms` whose role is not null). */
  roomsOf?: (userId: string) => Promise<readonly string[]>;
  /** How often a connection sends its heartbeat (`NATTER_PRESENCE_HEARTBEAT_MS`, default 10 s); the timeout must be longer. */
  heartbeatMs?: number;
  /** How long a connection may stay silent before it counts as gone (`NATTER_PRESENCE_TIMEOUT_MS`, default 30 s). */
  timeoutMs?: number;
  log: Logger;
  /** Where the presence metrics go (default: a registry of their own). */
  registry?: Registry;
  /** The clock in epoch milliseconds (default `Date.now`); instances are assumed to agree on it. */
  now?: () => number;
  /** Replicas of the buckets this creates where missing (default 1). */
  replicas?: number;
  /** The announcer's lease: a standby takes over this long after the holder dies (default 5 s). */
  leaseMs?: number;
  /** How often a standby tries to take the lease (default 500 ms). */
  standbyPollMs?: number;
  /**
   * Live connections one user may hold (`NATTER_PRESENCE_MAX_CONNECTIONS`, default 20): a
   * heartbeat of one more connection is refused (counted as `too_many_connections`).
   */
  maxConnectionsPerUser?: number;
  /**
   * Heartbeats one user may send (default: a burst of `maxConnectionsPerUser`, refilled at twice
   * the rate that many connections need); more are refused (counted as `rate_limited`).
   */
  heartbeatRateLimit?: RateLimit;
};

/** Running presence. */
export type Presence = {
  /** The users' current status, read from KV `presence` (so it is right whichever instance asks); an unknown or malformed id is `offline`. */
  statusOf(userIds: readonly string[]): Promise<Record<string, PresenceStatus>>;
  /** Stops taking heartbeats, finishes the writes and announcements under way, gives the lease up. */
  stop(): Promise<void>;
};

type PresenceMetrics = { heartbeats: Counter<"outcome">; announcements: Counter<"status">; active: Gauge };
const metricsByRegistry = new WeakMap<Registry, PresenceMetrics>();

/** The presence metrics of `registry` (registered on first use). */
function presenceMetrics(registry: Registry): PresenceMetrics {
  let m = metricsByRegistry.get(registry);
  if (m !== undefined) return m;
  const registers = [registry];
  m = {
    heartbeats: new Counter({
      name: "natter_presence_heartbeats_total",
      help: "Presence heartbeats taken, by outcome (accepted, ignored: malformed, rate_limited, too_many_connections)",
      labelNames: ["outcome"],
      registers,
    }),
    announcements: new Counter({
      name: "natter_presence_announcements_total",
      help: "Changes of a user's presence announced, by new status",
      labelNames: ["status"],
      registers,
    }),
    active: new Gauge({
      name: "natter_presence_active",
      help: "1 when this instance sweeps and announces presence",
      registers,
    }),
  };
  metricsByRegistry.set(registry, m);
  return m;
}

/** A connection's entry in KV `presence`, at `<userId>.<connectionId>`: its last status and when it was heard. */
const ConnectionEntry = z.object({ status: z.enum(PRESENCE_STATUSES), at: z.number() });
type ConnectionEntry = z.infer<typeof ConnectionEntry>;

function parseJson<T>(schema: z.ZodType<T>, bytes: Uint8Array): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** A user's status from their connections' entries: entries older than `timeoutMs` and goodbyes count as gone. */
export function presenceOf(entries: Iterable<ConnectionEntry>, now: number, timeoutMs: number): PresenceStatus {
  let status: PresenceStatus = "offline";
  for (const e of entries) {
    if (e.status === "offline" || e.at + timeoutMs <= now) continue;
    if (e.status === "online") return "online";
    status = "away";
  }
  return status;
}

/** The heartbeat on `subject`, or why it is ignored. The user is the subject's; a body naming another is refused. */
function parseHeartbeat(subject: string, data: Uint8Array): { userId: string; heartbeat: PresenceHeartbeat } | string {
  const userId = subject.slice(liveSubjects.presence("").length);
  if (!ID_PATTERN.test(userId)) return "the subject's user id is malformed";
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return "the body is not JSON";
  }
  if (typeof body === "object" && body !== null && "userId" in body && body.userId !== userId)
    return "the body names another user";
  const r = PresenceHeartbeat.safeParse(body);
  return r.success
    ? { userId, heartbeat: r.data }
    : `the body is not a heartbeat: ${r.error.issues[0]?.message ?? "invalid"}`;
}

/**
 * Runs presence (docs/read-side.md, "Presence and typing"). Every instance takes heartbeats from
 * `presence.<userId>` in the queue group `presence` and writes each connection's `{ status, at }`
 * to KV `presence` at `<userId>.<connectionId>`, with a per-message TTL of 2 × `timeoutMs` that
 * collects what nobody removes. One instance at a time, the holder of the lease `live.presence`,
 * watches the bucket (so it sees what any instance wrote), derives each user's status (`online`
 * while any connection says online, `away` while all say away, else `offline`; a goodbye or a
 * connection silent for `timeoutMs` counts as gone), and on a change publishes a `Presence` live
 * event (`seq` 0, `payload` `{ userId, status }`) to each of the user's rooms through
 * `publishToRoom`, then records the status it announced at key `<userId>`, so a standby that takes
 * over announces only what changed since.
 *
 * The timeout is enforced by a sweep every `timeoutMs / 10` (at least 10 ms): a connection that
 * stops without a goodbye is announced gone no sooner than `timeoutMs` and at most
 * `timeoutMs + timeoutMs / 10` after its last heartbeat was stored (the instances' clocks assumed
 * in step), while an announcer runs. A standby that takes over from a graceful `stop()` does so
 * within `standbyPollMs`; from one that died, once its lease expires (the TTL of bucket
 * `natter_locks`, `leaseMs` when this creates it) plus `standbyPollMs`. It then sweeps the same
 * entries, so the worst case is the later of the timeout and the takeover, plus the sweep period.
 *
 * @example
 * const presence = await startPresence(nc, { publishToRoom, log });
 * await presence.statusOf(["alice", "bob"]); // { alice: "online", bob: "offline" }
 */
export async function startPresence(nc: NatsConnection, options: PresenceOptions): Promise<Presence> {
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!(timeoutMs > heartbeatMs && heartbeatMs > 0)) {
    throw new Error(
      `presence: the timeout (${timeoutMs} ms) must be longer than the heartbeat interval (${heartbeatMs} ms), which must be positive`,
    );
  }
  const sweepMs = Math.max(10, Math.floor(timeoutMs / 10));
  const leaseMs = options.leaseMs ?? 5000;
  const standbyPollMs = options.standbyPollMs ?? 500;
  const now = options.now ?? Date.now;
  const log = options.log.child({ part: "presence" });
  const metrics = presenceMetrics(options.registry ?? new Registry());
  const { presence: kv } = await ensureBuckets(nc, { replicas: options.replicas });
  const locks = await openLockBucket(nc, leaseMs, { replicas: options.replicas, log });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  // Per-message TTLs need the bucket as ensureBuckets makes it; one made otherwise still works,
  // but what crashed clients leave stays in it.
  const ttlAllowed = await kv.status().then((s) => s.streamInfo.config.allow_msg_ttl === true);
  const ttl = ttlAllowed ? `${Math.max(1000, 2 * timeoutMs)}ms` : undefined;
  if (!ttlAllowed)
    log.warn(
      { bucket: BUCKET },
      "the presence bucket has no per-message TTL (create it with markerTTL): entries of vanished connections are never collected",
    );
  const put = (key: string, value: unknown, expires: boolean) =>
    js.publish(`$KV.${BUCKET}.${key}`, JSON.stringify(value), expires && ttl ? { ttl } : undefined);

  const roomsOf = options.roomsOf ?? ((userId: string) => roomsOfUser(jsm, userId));

  // Heartbeats, in every instance.
  const maxConnections = options.maxConnectionsPerUser ?? 20;
  const limiter = new RateLimiter(
    options.heartbeatRateLimit ?? {
      burst: maxConnections,
      perSecond: Math.max(1, (2 * maxConnections * 1000) / heartbeatMs),
    },
  );
  const connectionsOf = new ConnectionCounts(maxConnections, timeoutMs, (userId) =>
    liveConnectionIds(jsm, userId, timeoutMs, now()),
  );
  const writes = new Set<Promise<unknown>>();
  const refuse = (outcome: "ignored" | "rate_limited" | "too_many_connections", subject: string, reason: string) => {
    metrics.heartbeats.inc({ outcome });
    log.debug({ subject, reason }, "presence heartbeat refused");
  };
  const store = (userId: string, heartbeat: PresenceHeartbeat) => {
    metrics.heartbeats.inc({ outcome: "accepted" });
    const write: Promise<unknown> = put(
      `${userId}.${heartbeat.connectionId}`,
      { status: heartbeat.status, at: now() } satisfies ConnectionEntry,
      true,
    )
      .catch((err: unknown) => log.warn({ err, userId }, "presence heartbeat not stored"))
      .finally(() => writes.delete(write));
    writes.add(write);
  };
  const onHeartbeat = (msg: Msg) => {
    const parsed = parseHeartbeat(msg.subject, msg.data);
    if (typeof parsed === "string") return refuse("ignored", msg.subject, parsed);
    const { userId, heartbeat } = parsed;
    if (limiter.take(userId, now()) > 0)
      return refuse("rate_limited", msg.subject, "too many heartbeats from this user");
    const admitted = connectionsOf.admit(userId, heartbeat.connectionId, heartbeat.status === "offline", now());
    if (admitted === true) return store(userId, heartbeat);
    if (admitted === false)
      return refuse("too_many_connections", msg.subject, `more than ${maxConnections} live connections`);
    // A connection this instance has not heard yet: counted against the bucket first.
    const goodbye = heartbeat.status === "offline";
    const pending: Promise<unknown> = admitted
      .then((ok) => {
        if (ok) store(userId, heartbeat);
        else if (goodbye) refuse("ignored", msg.subject, "a goodbye of a connection that is not live");
        else refuse("too_many_connections", msg.subject, `more than ${maxConnections} live connections`);
      })
      .catch((err: unknown) => log.warn({ err, userId }, "presence heartbeat not checked"))
      .finally(() => writes.delete(pending));
    writes.add(pending);
  };
  const sub = nc.subscribe(liveSubjects.presence("*"), {
    queue: PRESENCE_QUEUE,
    callback: (err, msg) => {
      if (err) log.error({ err }, "presence subscription failed");
      else onHeartbeat(msg);
    },
  });

  // The announcer, in the lease holder.
  let stopped = false;
  let wake: (() => void) | undefined;
  let watch: QueuedIterator<KvWatchEntry> | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  async function announce(userId: string, status: PresenceStatus, lease: Lease): Promise<void> {
    if (lease.lost) return;
    const event: LiveEvent = {
      seq: 0,
      time: new Date(now()).toISOString(),
      type: "Presence",
      actor: userId,
      payload: { userId, status },
    };
    try {
      const rooms = await roomsOf(userId);
      const results = await Promise.allSettled(
        rooms.map((roomId) => options.publishToRoom(roomId, { ...event, roomId })),
      );
      const failed = results.filter((r) => r.status === "rejected");
      if (failed.length > 0)
        log.warn(
          { userId, status, failed: failed.length, err: failed[0]!.reason as unknown },
          "presence not delivered to every room",
        );
      metrics.announcements.inc({ status });
    } catch (err) {
      log.warn({ err, userId, status }, "presence not announced: the user's rooms could not be read");
    }
    if (lease.lost) return;
    // Recorded after the announcement: a holder that dies in between makes its successor repeat
    // it, rather than skip it.
    await put(userId, { status, at: now() }, status === "offline").catch((err: unknown) =>
      log.warn({ err, userId }, "announced presence not recorded"),
    );
  }

  async function announceWhileHeld(lease: Lease): Promise<void> {
    const connections = new Map<string, Map<string, ConnectionEntry>>();
    const announced = new Map<string, PresenceStatus>();
    const chains = new Map<string, Promise<void>>();
    let loaded = false;

    const reconcile = (userId: string) => {
      const status = presenceOf(connections.get(userId)?.values() ?? [], now(), timeoutMs);
      if (status === (announced.get(userId) ?? "offline")) return;
      if (status === "offline") announced.delete(userId);
      else announced.set(userId, status);
      // One user's announcements go out in the order of their changes.
      const next = (chains.get(userId) ?? Promise.resolve()).then(() => announce(userId, status, lease));
      chains.set(userId, next);
      void next.finally(() => {
        if (chains.get(userId) === next) chains.delete(userId);
      });
    };

    const apply = (e: KvWatchEntry) => {
      const dot = e.key.indexOf(".");
      if (dot < 0) {
        // What the previous holder announced; once loaded, this instance is the only writer.
        if (!loaded) {
          const s = e.operation === "PUT" ? parseJson(ConnectionEntry, e.value)?.status : undefined;
          if (s === undefined || s === "offline") announced.delete(e.key);
          else announced.set(e.key, s);
        }
      } else {
        const userId = e.key.slice(0, dot);
        const entry = e.operation === "PUT" ? parseJson(ConnectionEntry, e.value) : undefined;
        let conns = connections.get(userId);
        if (entry !== undefined && entry.status !== "offline") {
          if (conns === undefined) connections.set(userId, (conns = new Map()));
          conns.set(e.key.slice(dot + 1), entry);
        } else if (conns !== undefined) {
          conns.delete(e.key.slice(dot + 1));
          if (conns.size === 0) connections.delete(userId);
        }
        if (loaded) reconcile(userId);
      }
      // The watch hands the bucket's current values first: compare them all once they are in.
      if (!loaded && (e.isUpdate || e.delta === 0)) {
        loaded = true;
        for (const userId of new Set([...connections.keys(), ...announced.keys()])) reconcile(userId);
      }
    };

    const sweep = () => {
      if (!loaded || lease.lost) return;
      const t = now();
      for (const [userId, conns] of connections) {
        let changed = false;
        for (const [id, c] of conns) {
          if (c.at + timeoutMs > t) continue;
          conns.delete(id);
          changed = true;
        }
        if (conns.size === 0) connections.delete(userId);
        if (changed) reconcile(userId);
      }
    };

    const w = await kv.watch({ key: ">" });
    watch = w;
    if (stopped || lease.lost) w.stop();
    const timer = setInterval(sweep, sweepMs);
    try {
      for await (const e of w) apply(e);
    } finally {
      clearInterval(timer);
      watch = undefined;
      w.stop();
      await Promise.all(chains.values());
    }
  }

  const owner = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const announcer = (async () => {
    let standingBy = false;
    while (!stopped) {
      // Losing the lease ends the watch at once, and with it the announcing.
      const lease = new Lease(locks, PRESENCE_LEASE_KEY, owner, leaseMs, () => watch?.stop());
      if (!(await lease.tryAcquire())) {
        if (!standingBy)
          log.info(
            { holder: await Lease.holder(locks, PRESENCE_LEASE_KEY).catch(() => null) },
            "presence: standing by",
          );
        standingBy = true;
        await pause(standbyPollMs);
        continue;
      }
      standingBy = false;
      metrics.active.set(1);
      log.info({ timeoutMs, sweepMs }, "presence: this instance sweeps and announces");
      try {
        if (!stopped) await announceWhileHeld(lease);
      } catch (err) {
        log.error({ err }, "presence announcer failed: trying again");
      } finally {
        metrics.active.set(0);
        await lease.release();
      }
      if (!stopped) await pause(standbyPollMs);
    }
  })().catch((err: unknown) => log.error({ err }, "presence announcer stopped on an error"));

  return {
    statusOf: (userIds) => presenceStatuses(jsm, userIds, timeoutMs, now()),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!nc.isClosed()) await sub.drain().catch(() => sub.unsubscribe());
      wake?.();
      watch?.stop();
      await announcer;
      await Promise.all(writes);
    },
  };
}

/**
 * The presence of `userIds` as the `presence` bucket says at `at` (connections silent longer than
 * `timeoutMs` count as gone), in one batched direct get per 50 users: any process with read access
 * to the bucket may ask, with or without a running presence service. Bad ids answer `offline`.
 */
export async function presenceStatuses(
  jsm: JetStreamManager,
  userIds: readonly string[],
  timeoutMs: number,
  at: number,
): Promise<Record<string, PresenceStatus>> {
  const ids = [...new Set(userIds)];
  const valid = ids.filter((id) => ID_PATTERN.test(id));
  const byUser = new Map<string, ConnectionEntry[]>();
  for (const v of await kvLastValues(
    jsm,
    BUCKET,
    valid.map((id) => `${id}.*`),
  )) {
    const entry = parseJson(ConnectionEntry, v.value);
    if (entry === undefined) continue;
    const userId = v.key.slice(0, v.key.indexOf("."));
    byUser.set(userId, [...(byUser.get(userId) ?? []), entry]);
  }
  // fromEntries, not assignment: an id such as "__proto__" stays a plain key.
  return Object.fromEntries(ids.map((id) => [id, presenceOf(byUser.get(id) ?? [], at, timeoutMs)]));
}

/** The ids of a user's connections that the `presence` bucket holds as live at `at`. */
async function liveConnectionIds(
  jsm: JetStreamManager,
  userId: string,
  timeoutMs: number,
  at: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (const v of await kvLastValues(jsm, BUCKET, [`${userId}.*`])) {
    const entry = parseJson(ConnectionEntry, v.value);
    if (entry !== undefined && entry.status !== "offline" && entry.at + timeoutMs > at)
      ids.push(v.key.slice(userId.length + 1));
  }
  return ids;
}

/**
 * The connections each user holds live, so that one user cannot fill the bucket (and the
 * announcer's memory) with made-up connection ids. A heartbeat of a connection already counted
 * costs nothing; one of a connection this instance has not heard is counted against the bucket
 * (which holds every instance's) with one read. Entries silent for the timeout drop out.
 */
class ConnectionCounts {
  private readonly byUser = new Map<string, Map<string, number>>();
  /** Connections that said goodbye here, by `<userId>.<connectionId>`: a read of the bucket before their goodbye is stored must not count them again. */
  private readonly left = new Map<string, number>();
  private swept = 0;

  constructor(
    private readonly max: number,
    private readonly timeoutMs: number,
    private readonly read: (userId: string) => Promise<string[]>,
  ) {}

  /** True or false at once when it can tell, else once the bucket was read. A goodbye is admitted for a connection that is live, and uncounts it. */
  admit(userId: string, connectionId: string, goodbye: boolean, now: number): boolean | Promise<boolean> {
    this.sweep(now);
    const conns = this.byUser.get(userId);
    if (goodbye) {
      const counted = conns?.delete(connectionId) === true;
      if (conns?.size === 0) this.byUser.delete(userId);
      if (counted) {
        this.left.set(`${userId}.${connectionId}`, now);
        return true;
      }
      // Another instance may have counted it (the queue group spreads heartbeats): store the
      // goodbye only for a connection the bucket holds live, so made-up ids leave no keys.
      return this.read(userId).then((ids) => ids.includes(connectionId));
    }
    this.left.delete(`${userId}.${connectionId}`);
    if (conns?.has(connectionId)) {
      conns.set(connectionId, now);
      return true;
    }
    if (conns !== undefined && conns.size >= this.max) return false;
    return this.read(userId).then((ids) => {
      const known = this.byUser.get(userId) ?? new Map<string, number>();
      for (const id of ids) if (!known.has(id) && !this.left.has(`${userId}.${id}`)) known.set(id, now);
      this.byUser.set(userId, known);
      if (known.has(connectionId)) {
        known.set(connectionId, now);
        return true;
      }
      if (known.size >= this.max) return false;
      known.set(connectionId, now);
      return true;
    });
  }

  private sweep(now: number): void {
    if (now - this.swept < this.timeoutMs) return;
    this.swept = now;
    for (const [userId, conns] of this.byUser) {
      for (const [id, at] of conns) if (at + this.timeoutMs <= now) conns.delete(id);
      if (conns.size === 0) this.byUser.delete(userId);
    }
    for (const [key, at] of this.left) if (at + this.timeoutMs <= now) this.left.delete(key);
  }
}

import { Kvm, type KV } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { LOCK_BUCKET } from "./names.ts";

/** How a part opens the lease bucket. */
export type LockBucketOptions = {
  /** Replicas where the bucket is missing (NATTER_STREAM_REPLICAS). An existing bucket keeps its own. */
  replicas?: number;
  /**
   * Given by the parts that hold leases (projectors, the live fan-out, presence): an existing
   * bucket whose TTL is shorter than `ttlMs` is raised to it, so that a longer
   * NATTER_PROJECTION_LEASE_MS takes effect on restart. A shorter one is not applied (see
   * adjustTtl) and the log says how to apply it. The replay CLI gives none: it changes nothing.
   */
  log?: Logger;
};

/** One TTL adjustment per connection and value: every projector and the live part open the bucket at start. */
const adjusting = new WeakMap<NatsConnection, Map<number, Promise<void>>>();

/**
 * Opens the lease bucket, creating it where missing; entries expire `ttlMs` after their last
 * write. See LockBucketOptions for an existing bucket's TTL.
 */
export async function openLockBucket(nc: NatsConnection, ttlMs: number, options: LockBucketOptions = {}): Promise<KV> {
  const kv = await new Kvm(nc).create(LOCK_BUCKET, {
    history: 1,
    ttl: ttlMs,
    replicas: options.replicas ?? 1,
    storage: StorageType.File,
    description: "natter: projection leases",
  });
  if (options.log === undefined) return kv;
  let byTtl = adjusting.get(nc);
  if (byTtl === undefined) adjusting.set(nc, (byTtl = new Map()));
  let done = byTtl.get(ttlMs);
  if (done === undefined) byTtl.set(ttlMs, (done = adjustTtl(nc, kv, ttlMs, options.log)));
  await done;
  return kv;
}

/**
 * Raises the bucket's TTL to `ttlMs`; never lowers it. A holder renews every third of the TTL it
 * saw when it took its lease, and the server drops entries older than a new, shorter TTL at once:
 * lowering it under a running holder would let a standby take a lease that is still held. Raising
 * only makes holders renew more often than they need. Never throws: leases work on any TTL.
 */
async function adjustTtl(nc: NatsConnection, kv: KV, ttlMs: number, log: Logger): Promise<void> {
  try {
    const { ttl } = await kv.status();
    if (ttl === ttlMs || ttl === 0) return;
    if (ttl > ttlMs) {
      log.warn(
        { bucket: LOCK_BUCKET, ttlMs: ttl, configuredMs: ttlMs },
        `leases keep the lease bucket's TTL of ${ttl} ms, longer than NATTER_PROJECTION_LEASE_MS: a running part may hold a lease on it. To shorten it, stop every part, delete the KV bucket ${LOCK_BUCKET} (it holds only leases) and start again`,
      );
      return;
    }
    const jsm = await jetstreamManager(nc);
    const stream = `KV_${LOCK_BUCKET}`;
    const config = (await jsm.streams.info(stream)).config;
    await jsm.streams.update(stream, { ...config, max_age: nanos(ttlMs) });
    log.warn(
      { bucket: LOCK_BUCKET, fromMs: ttl, toMs: ttlMs },
      "the lease bucket's TTL was raised to NATTER_PROJECTION_LEASE_MS",
    );
  } catch (err) {
    log.warn(
      { bucket: LOCK_BUCKET, configuredMs: ttlMs, err: err instanceof Error ? err.message : String(err) },
      "could not check or raise the lease bucket's TTL: leases keep its TTL",
    );
  }
}

/**
 * A lease on a key of the lock bucket: at most one holder at a time. The holder renews it every
 * third of the bucket's TTL; a holder that dies loses it when the TTL runs out, and a standby
 * takes it then. `lost` turns true the moment a renewal fails: stop writing then.
 */
export class Lease {
  private revision = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;
  lost = false;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    readonly owner: string,
    private readonly ttlMs: number,
    /** Called once when a renewal fails: the holder must stop writing at once. */
    private readonly onLost?: () => void,
  ) {}

  /** Takes the lease if no one holds it. */
  async tryAcquire(): Promise<boolean> {
    try {
      this.revision = await this.kv.create(this.key, this.owner);
    } catch {
      return false;
    }
    this.lost = false;
    // The bucket's own TTL decides when the entry expires: the first process to open the bucket
    // set it, and it may be shorter than this holder's idea of it.
    const bucketTtl = await this.kv.status().then(
      (s) => s.ttl,
      () => 0,
    );
    const ttl = bucketTtl > 0 ? Math.min(bucketTtl, this.ttlMs) : this.ttlMs;
    this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(ttl / 3)));
    return true;
  }

  private async renew(): Promise<void> {
    // A renewal still under way holds the revision the next one needs: never run two at once.
    if (this.renewing || this.lost) return;
    this.renewing = true;
    try {
      this.revision = await this.kv.update(this.key, this.owner, this.revision);
    } catch {
      this.lost = true;
      clearInterval(this.timer);
      this.onLost?.();
    } finally {
      this.renewing = false;
    }
  }

  /** True when the key still holds this lease, read now (whether or not a renewal has noticed); rejects when it cannot be read. */
  async held(): Promise<boolean> {
    const e = await this.kv.get(this.key);
    return e !== null && e.operation === "PUT" && e.revision === this.revision;
  }

  /** Gives the lease up at once, so a standby need not wait for the TTL. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (this.lost || this.revision === 0) return;
    try {
      await this.kv.delete(this.key, { previousSeq: this.revision });
    } catch {
      // Someone else holds it already, or the bucket is gone: nothing to give up.
    }
    this.revision = 0;
  }

  /** Who holds the key now, if anyone. */
  static async holder(kv: KV, key: string): Promise<string | null> {
    const e = await kv.get(key);
    return e === null || e.operation !== "PUT" ? null : e.string();
  }
}

import { Kvm, type KV } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { Logger } from "pino";

/** The bucket of projection leases and control keys. */
export const LOCK_BUCKET = "natter_locks";

/** How a part opens the lease bucket. */
export type LockBucketOptions = {
  /** Replicas where the bucket is missing (NATTER_STREAM_REPLICAS). An existing bucket keeps its own. */
  replicas?: number;
  /**
   * Given by the parts that hold leases (projectors, the live fan-out, presence): an existing
   * bucket whose TTL is not `ttlMs` gets `ttlMs`, and the change is logged, so that a changed
   * NATTER_PROJECTION_LEASE_MS takes effect on restart. The replay CLI gives none: it never
   * changes what the running parts use.
   */
  log?: Logger;
};

/**
 * Opens the lease bucket, creating it where missing; entries expire `ttlMs` after their last
 * write. See LockBucketOptions for an existing bucket's TTL.
 */
export async function openLockBucket(nc: NatsConnection, ttlMs: number, options: LockBucketOptions = {}): Promise<KV> {
  const kv = await new Kvm(nc).create(LOCK_BUCKET, { history: 1, ttl: ttlMs, replicas: options.replicas ?? 1, storage: StorageType.File, description: "natter: projection leases" });
  if (options.log === undefined) return kv;
  const status = await kv.status();
  if (status.ttl === ttlMs) return kv;
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `KV_${LOCK_BUCKET}`;
    const config = (await jsm.streams.info(stream)).config;
    const maxAge = nanos(ttlMs);
    // The duplicate window may not be longer than the age limit.
    await jsm.streams.update(stream, { ...config, max_age: maxAge, duplicate_window: Math.min(config.duplicate_window, maxAge) });
    options.log.warn({ bucket: LOCK_BUCKET, fromMs: status.ttl, toMs: ttlMs }, "the lease bucket's TTL changed to NATTER_PROJECTION_LEASE_MS; give every part the same value, or each start changes it again");
  } catch (err) {
    // Leases still work on the bucket's TTL (Lease renews by the shorter of the two).
    options.log.warn({ bucket: LOCK_BUCKET, ttlMs: status.ttl, wantedMs: ttlMs, err: err instanceof Error ? err.message : String(err) }, "could not change the lease bucket's TTL: leases keep its TTL");
  }
  return kv;
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

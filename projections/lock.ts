import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { StorageType } from "@nats-io/jetstream";

/** The bucket of projection leases and control keys. */
export const LOCK_BUCKET = "natter_locks";

/**
 * Opens the lease bucket, creating it where missing with `replicas` (NATTER_STREAM_REPLICAS);
 * entries expire `ttlMs` after their last write. An existing bucket keeps the TTL and replicas it
 * was made with (Lease renews by the bucket's own TTL).
 */
export async function openLockBucket(nc: NatsConnection, ttlMs: number, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(LOCK_BUCKET, { history: 1, ttl: ttlMs, replicas, storage: StorageType.File, description: "natter: projection leases" });
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

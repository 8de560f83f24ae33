import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { openCheckpointBucket } from "../kvCheckpoint.ts";

/**
 * How far an active instance of a single-active reader (the live fan-out) got, kept in the
 * `natter_checkpoints` bucket under `key`, so that the instance taking over resumes there
 * instead of at the end of the log. The record is only trusted while it is fresh: an instance
 * starting after everything was down longer than `windowMs` starts from the end. The active
 * instance saves when its position moved (at most as often as it calls `save`) and, while idle,
 * often enough to keep the record fresh.
 */
export class PositionRecord {
  private saved = -1;
  private savedAt = 0;
  private saving: Promise<void> | undefined;

  private constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly windowMs: number,
    private readonly log: Logger,
  ) {}

  /** Opens (creating if missing) the checkpoint bucket and the record under `key`. */
  static async open(
    nc: NatsConnection,
    key: string,
    windowMs: number,
    log: Logger,
    replicas = 1,
  ): Promise<PositionRecord> {
    const kv = await openCheckpointBucket(nc, replicas);
    return new PositionRecord(kv, key, windowMs, log);
  }

  /**
   * Where to start reading: after the recorded position when it is fresh and not beyond `last`
   * (the stream's last sequence now), else after `last`.
   */
  async resumePoint(last: number): Promise<number> {
    const e = await this.kv.get(this.key).catch(() => null);
    let from = last;
    if (e?.operation === "PUT") {
      const reached = Number(e.string());
      const fresh = Date.now() - e.created.getTime() <= this.windowMs;
      if (fresh && Number.isSafeInteger(reached) && reached >= 0 && reached <= last) from = reached;
    }
    if (from < last) this.log.info({ key: this.key, from, last }, "resuming where the previous active instance got");
    this.saved = from;
    this.savedAt = 0;
    return from;
  }

  /**
   * Records `position()` when it moved since the last save, or when the record is a quarter of
   * the window old; always with `final`. A save while one is under way is skipped (or, when
   * final, waits for it). Failures are logged, never thrown.
   */
  save(position: () => number, final = false): Promise<void> {
    if (!final && this.saving !== undefined) return this.saving;
    const previous = this.saving;
    const run = async () => {
      await previous;
      const now = Date.now();
      const at = position();
      if (!final && at === this.saved && now - this.savedAt < this.windowMs / 4) return;
      try {
        await this.kv.put(this.key, String(at));
        this.saved = at;
        this.savedAt = now;
      } catch (err) {
        this.log.warn({ err, key: this.key, position: at }, "could not record the position");
      }
    };
    const saving: Promise<void> = run().finally(() => {
      if (this.saving === saving) this.saving = undefined;
    });
    this.saving = saving;
    return saving;
  }
}

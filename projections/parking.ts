import type { JsMsg } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { EventEnvelope } from "../streams/index.ts";
import type { Db } from "./db.ts";
import { errorText } from "./errorText.ts";
import type { ProjectionMetrics } from "./metrics.ts";
import { applyBatch, CheckpointMovedError, listParked, parkEvents, type ParkedEvent } from "./pgStore.ts";
import type { PgProjection } from "./projection.ts";

/** What to do with an event that keeps failing. */
export type PoisonPolicy = "hold" | "halt";

/** How a projector treats an event that fails. */
export type PoisonOptions = {
  /** `hold` (default): park the event, hold later events of its aggregate, go on with the rest. `halt`: stop at it. */
  poison?: PoisonPolicy;
  /** Attempts at a failing event before it is parked. */
  attempts?: number;
  /** The first retry's delay; each next one is four times longer. */
  retryDelayMs?: number;
};

/** A message whose event could not be decoded, and why. */
export type Undecodable = { m: JsMsg; error: string };

/**
 * The parked events of one PostgreSQL projection, as its projector works with them: which
 * aggregates are held (a parked event of theirs makes their later events wait behind it), applying
 * a batch's events one by one with retries when the batch failed, parking those that keep failing
 * by the poison policy, and waiting while halted.
 */
export class Parking {
  /** The subjects (aggregates) whose events are held behind a parked one. */
  held = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly projection: PgProjection,
    private readonly log: Logger,
    private readonly metrics: ProjectionMetrics,
    /** The poison options, and `leaseMs` for each transaction's idle limit (see applyBatch). */
    private readonly options: PoisonOptions & { leaseMs?: number },
  ) {}

  /** Reads the held aggregates from the parked events, and counts those in the metrics. */
  async refreshHeld(): Promise<void> {
    const p = this.projection;
    const parked = await listParked(this.db, p.liveSchema);
    this.held = new Set(parked.filter((x: ParkedEvent) => x.status !== "halted").map((x) => x.subject));
    this.metrics.parked.set({ projection: p.name }, parked.length);
  }

  /**
   * Applies events (and parks the undecodable ones) one at a time in stream order, with retries,
   * parking those that keep failing; moves `cursor.checkpoint` past each event it applies or parks.
   * True when halted (poison policy `halt`), at the event that failed.
   */
  async applyOneByOne(
    cursor: { checkpoint: number },
    events: EventEnvelope[],
    undecodable: Undecodable[],
  ): Promise<boolean> {
    const p = this.projection;
    const db = this.db;
    const bad = new Map(undecodable.map((u) => [u.m.seq, u]));
    const all = [
      ...events.map((e) => ({ seq: e.seq, subject: e.subject, event: e as EventEnvelope | undefined })),
      ...undecodable.map((u) => ({ seq: u.m.seq, subject: u.m.subject, event: undefined })),
    ].sort((a, b) => a.seq - b.seq);
    for (const item of all) {
      const type = item.event?.type ?? bad.get(item.seq)?.m.headers?.get("Natter-Type") ?? "unknown";
      if (this.held.has(item.subject)) {
        await this.refreshHeld();
        if (this.held.has(item.subject)) {
          await parkEvents(
            db,
            p.liveSchema,
            p.name,
            [
              {
                seq: item.seq,
                subject: item.subject,
                type,
                status: "held",
                error: "waits behind an earlier parked event of its aggregate",
                attempts: 0,
              },
            ],
            cursor.checkpoint,
            item.seq,
          );
          cursor.checkpoint = item.seq;
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
            cursor.checkpoint = await applyBatch(
              db,
              p,
              p.liveSchema,
              [item.event],
              cursor.checkpoint,
              this.options.leaseMs,
            );
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
      this.log.error(
        { projection: p.name, seq: item.seq, subject: item.subject, type, error, halt },
        halt ? "poison event: halting" : "poison event parked",
      );
      await parkEvents(
        db,
        p.liveSchema,
        p.name,
        [
          {
            seq: item.seq,
            subject: item.subject,
            type,
            status: halt ? "halted" : "failed",
            error: error ?? "unknown error",
            attempts,
          },
        ],
        cursor.checkpoint,
        halt ? null : item.seq,
      );
      this.updateParkedMetric();
      if (halt) return true;
      cursor.checkpoint = item.seq;
      this.held.add(item.subject);
    }
    return false;
  }

  /** Waits until the halting event is retried or skipped (by the replay CLI), or until `waiting` says to stop. */
  async waitWhileHalted(waiting: () => boolean): Promise<void> {
    const p = this.projection;
    this.metrics.halted.set({ projection: p.name }, 1);
    try {
      while (waiting()) {
        const parked = await listParked(this.db, p.liveSchema);
        if (!parked.some((x) => x.status === "halted")) return;
        await sleep(500);
      }
    } finally {
      this.metrics.halted.set({ projection: p.name }, 0);
    }
  }

  private updateParkedMetric(): void {
    const p = this.projection;
    void listParked(this.db, p.liveSchema).then(
      (rows) => this.metrics.parked.set({ projection: p.name }, rows.length),
      () => undefined,
    );
  }
}

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import { appliedSubject, projectionNamed, query, readCheckpoint, waitForApplied, type Db, type PgProjection } from "../projections/index.ts";
import type { EventStore } from "../streams/index.ts";

/**
 * Read your writes for the read API: knows the newest checkpoint each projection announced (one
 * subscription for all queries), so a `minSeq` already applied costs nothing, and waits briefly
 * for one that is not.
 */
export class CheckpointWatch {
  private readonly known = new Map<string, number>();
  private readonly sub: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: Db,
    private readonly store: EventStore,
    /** How long a query waits for its `minSeq` before answering with what it has. */
    private readonly timeoutMs = 2000,
  ) {
    this.sub = nc.subscribe(appliedSubject("*"), {
      callback: (err, m) => {
        if (err) return;
        const name = m.subject.split(".")[2]!;
        const { seq } = m.json<{ seq: number }>();
        if (seq > (this.known.get(name) ?? 0)) this.known.set(name, seq);
      },
    });
  }

  /** True once every projection in `names` has applied what it reads up to `seq`; false after the timeout. */
  async reached(names: readonly string[], seq: number): Promise<boolean> {
    const waits = names
      .filter((n) => (this.known.get(n) ?? 0) < seq)
      .map((n) => {
        const p = projectionNamed(n) as PgProjection;
        const checkpoint = async () => (await readCheckpoint(this.db, p.liveSchema, p.name))?.seq ?? 0;
        return waitForApplied(this.nc, this.store, p, checkpoint, seq, this.timeoutMs);
      });
    return (await Promise.all(waits)).every(Boolean);
  }

  /** Each PostgreSQL projection's checkpoint and how far it is behind the log's last sequence. */
  async lag(names: readonly string[]): Promise<Record<string, { checkpoint: number; behind: number }>> {
    const last = await this.store.lastSeq();
    const out: Record<string, { checkpoint: number; behind: number }> = {};
    for (const n of names) {
      const p = projectionNamed(n) as PgProjection;
      const cp = (await readCheckpoint(this.db, p.liveSchema, p.name))?.seq ?? 0;
      out[n] = { checkpoint: cp, behind: Math.max(0, last - cp) };
    }
    return out;
  }

  /** True when the database answers. */
  async databaseUp(): Promise<boolean> {
    try {
      await query(this.db, sql`SELECT 1`);
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    this.sub.unsubscribe();
  }
}

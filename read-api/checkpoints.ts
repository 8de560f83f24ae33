import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import {
  appliedAt,
  appliedSubject,
  listParked,
  parkedState,
  projectionNamed,
  query,
  readCheckpoint,
  type AppliedAnnouncement,
  type Db,
  type PgProjection,
} from "../projections/index.ts";
import type { EventStore } from "../streams/index.ts";

/**
 * How a projection stands, for /healthz: `parked` when events wait in its parked table (`replay
 * failures` shows and resolves them), `halted` when one stopped it, `stalled` when it has been
 * behind the log without moving for the stall time (a projector that keeps failing, or none running).
 */
export type ProjectionHealth = {
  checkpoint: number;
  behind: number;
  parked: number;
  state: "ok" | "parked" | "halted" | "stalled";
};

/** How long a projection may be behind without moving before it counts as stalled. */
export const STALL_MS = 30_000;

/** Told of each projector's announcement, and of one that could not be read. */
export type AppliedListener = { applied(name: string, a: AppliedAnnouncement): void; lost(): void };

/**
 * Read your writes for the read API: knows the newest checkpoint each projection announced (one
 * subscription for all queries), so a `minSeq` already applied costs nothing, and waits briefly
 * for one that is not.
 */
export class CheckpointWatch {
  private readonly known = new Map<string, number>();
  /** Per projection: the checkpoint health last saw, and since when it stood there. */
  private readonly progress = new Map<string, { checkpoint: number; since: number }>();
  /** Per projection: up to `upTo` it has applied all it reads, as of its checkpoint `at`. */
  private readonly complete = new Map<string, { upTo: number; at: number }>();
  private readonly sub: Subscription;
  private readonly listeners: AppliedListener[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: Db,
    private readonly store: EventStore,
    /** How long a query waits for its `minSeq` before answering with what it has. */
    private readonly timeoutMs = 2000,
  ) {
    this.sub = nc.subscribe(appliedSubject("*"), {
      callback: (err, m) => {
        let a: AppliedAnnouncement;
        try {
          if (err) throw err;
          a = m.json<AppliedAnnouncement>();
        } catch {
          for (const l of this.listeners) l.lost();
          return;
        }
        const name = m.subject.split(".")[2]!;
        // Listeners first: whoever then sees `known` move finds them in step with it.
        for (const l of this.listeners) l.applied(name, a);
        if (a.seq > (this.known.get(name) ?? 0)) this.known.set(name, a.seq);
      },
    });
  }

  /**
   * Hands each announcement to `listener` (the timeline cache) before `known` moves, and tells it
   * when one could not be read. Resolves once the subscription is in place at the server.
   */
  async listen(listener: AppliedListener): Promise<void> {
    this.listeners.push(listener);
    await this.nc.flush();
  }

  /**
   * Whether every projection in `names` has applied what it reads up to `seq` (`ok`, false after
   * the timeout), and for each the checkpoint that was enough (`applied`): `seq`, or one below it
   * with nothing the projection reads between them (what the timeline cache needs to know).
   */
  async reached(names: readonly string[], seq: number): Promise<{ ok: boolean; applied: Record<string, number> }> {
    const applied: Record<string, number> = {};
    let ok = true;
    await Promise.all(
      names.map(async (n) => {
        if ((this.known.get(n) ?? 0) >= seq) return void (applied[n] = seq);
        // Found before: nothing it reads lies between that checkpoint and a later `seq` up to here.
        const done = this.complete.get(n);
        if (done !== undefined && done.upTo >= seq) return void (applied[n] = done.at);
        const p = projectionNamed(n) as PgProjection;
        const checkpoint = async () => (await readCheckpoint(this.db, p.liveSchema, p.name))?.seq ?? 0;
        // The log's end before looking: "nothing it reads up to `seq`" holds for good only up to
        // there. A `seq` beyond the end (a client may ask any) must not be remembered as done, or
        // the events that come later below it would count as applied for every caller.
        const end = await this.store.lastSeq();
        const at = await appliedAt(this.nc, this.store, p, checkpoint, seq, this.timeoutMs);
        if (at === null) return void (ok = false);
        applied[n] = Math.min(at, seq);
        const upTo = Math.min(seq, end);
        if (at < upTo && (done === undefined || upTo > done.upTo)) this.complete.set(n, { upTo, at });
      }),
    );
    return { ok, applied };
  }

  /**
   * Each PostgreSQL projection's checkpoint, how far it is behind the log's last sequence, its
   * parked events and its state (see ProjectionHealth). Stalling is judged across calls: a
   * checkpoint that stayed behind and unmoved since a call `stallMs` ago.
   */
  async lag(names: readonly string[], stallMs = STALL_MS, now = Date.now()): Promise<Record<string, ProjectionHealth>> {
    const last = await this.store.lastSeq();
    const out: Record<string, ProjectionHealth> = {};
    for (const n of names) {
      const p = projectionNamed(n) as PgProjection;
      const cp = (await readCheckpoint(this.db, p.liveSchema, p.name))?.seq ?? 0;
      const parked = await listParked(this.db, p.liveSchema).catch(() => []);
      // Behind only by events it reads: a projection of rooms is not behind a message posted after its checkpoint.
      const next =
        cp >= last ? [] : await Promise.all(p.filterSubjects.map((f) => this.store.nextSeqMatching(f, cp + 1)));
      const behind = next.some((seq) => seq !== null) ? last - cp : 0;
      const seen = this.progress.get(n);
      if (seen === undefined || seen.checkpoint !== cp || behind === 0)
        this.progress.set(n, { checkpoint: cp, since: now });
      const stalled = behind > 0 && seen !== undefined && seen.checkpoint === cp && now - seen.since >= stallMs;
      const fromParked = parkedState(parked);
      const state = fromParked === "halted" ? "halted" : stalled ? "stalled" : fromParked;
      out[n] = { checkpoint: cp, behind, parked: parked.length, state };
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

import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import {
  EventStore,
  isWrongLastSequence,
  openBucket,
  scanLog,
  type EventEnvelope,
  type ScanProgress,
} from "../streams/index.ts";
import { announceApplied } from "./announcements.ts";
import { ident, query, type Db } from "./db.ts";
import { openCheckpointBucket } from "./kvCheckpoint.ts";
import { Lease, openLockBucket } from "./lock.ts";
import { leaseKey, yieldKey } from "./names.ts";
import {
  applyBatch,
  lockProjection,
  prepareSchema,
  readCheckpoint,
  schemaExists,
  listParked,
  advanceCheckpoint,
  parkedErrorText,
} from "./pgStore.ts";
import type { KvProjection, PgProjection, Projection } from "./projection.ts";

/** What long work reports as it goes: the phase, events applied so far, and how many remain. */
export type MaintenanceProgress = { phase: string; applied: number; seq: number; pending: number };

export type MaintenanceDeps = {
  nc: NatsConnection;
  db?: Db;
  /** Called after each batch and at each phase change. */
  progress?: (p: MaintenanceProgress) => void;
  /** The lease TTL the projectors use (to open the lock bucket the same way). */
  leaseMs?: number;
  /** Replicas of the lock and checkpoint buckets where this is the first to make them (NATTER_STREAM_REPLICAS). */
  replicas?: number;
  /** How long to wait for the live projector to step aside. */
  yieldTimeoutMs?: number;
  /** Events applied per transaction (default: scanLog's). */
  batchSize?: number;
};

/** A maintenance step that cannot go on; the message says what to do. */
export class MaintenanceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MaintenanceError";
  }
}

/**
 * Asks the live projector of `name` to step aside and takes its lease, then runs `work` while no
 * projector applies anything; gives the lease back and lets the projector resume after.
 */
export async function withProjectionPaused<T>(deps: MaintenanceDeps, name: string, work: () => Promise<T>): Promise<T> {
  const locks = await openLockBucket(deps.nc, deps.leaseMs ?? 5000, { replicas: deps.replicas });
  const owner = `replay-${process.pid}`;
  await locks.put(yieldKey(name), owner);
  const lease = new Lease(locks, leaseKey(name), owner, deps.leaseMs ?? 5000);
  try {
    const deadline = Date.now() + (deps.yieldTimeoutMs ?? 30_000);
    while (!(await lease.tryAcquire())) {
      if (Date.now() > deadline) {
        const holder = await Lease.holder(locks, leaseKey(name));
        throw new MaintenanceError(
          `the live ${name} projector (${holder ?? "unknown"}) did not step aside within ${(deps.yieldTimeoutMs ?? 30_000) / 1000} s; is it stuck? Stop it, then try again`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return await work();
  } finally {
    await lease.release();
    await locks.delete(yieldKey(name)).catch(() => undefined);
  }
}

/** Applies the log from the schema's checkpoint on (up to `untilSeq`), in batches, to `schema`. */
async function catchUp(
  deps: MaintenanceDeps,
  p: PgProjection,
  schema: string,
  phase: string,
  untilSeq?: number,
  counter?: { applied: number },
): Promise<number> {
  const db = deps.db!;
  let cp = (await readCheckpoint(db, schema, p.name))!.seq;
  let applied = 0;
  await scanLog(
    deps.nc,
    { filterSubjects: p.filterSubjects, fromSeq: cp + 1, untilSeq, batchSize: deps.batchSize },
    async (events: EventEnvelope[], at: ScanProgress) => {
      try {
        cp = await applyBatch(db, p, schema, events, cp);
      } catch (err) {
        throw new MaintenanceError(
          `event ${events[0]?.seq}..${events.at(-1)?.seq} does not apply to ${schema}: ${(err as Error).message}. Fix the cause and run the command again: it resumes from ${cp}`,
          { cause: err },
        );
      }
      applied += events.length;
      if (counter) counter.applied += events.length;
      deps.progress?.({ phase, applied, seq: at.seq, pending: at.pending });
    },
  );
  return cp;
}

/** The result of a rebuild: events applied by this run, the sequence it reached, and how long it took. */
export type RebuildResult = { projection: string; applied: number; seq: number; swapped: boolean; ms: number };

/**
 * Rebuilds a PostgreSQL projection beside the live one: builds `<live>__next` from the log
 * (resuming a build a crash left), catches up, pauses the live projector, catches up the rest,
 * runs the projection's checks, then swaps the schemas in one transaction and drops the old one.
 * The live read model answers until the swap; readers never see a half-built one.
 */
export async function rebuildPg(
  deps: MaintenanceDeps,
  p: PgProjection,
  options: { keepOld?: boolean } = {},
): Promise<RebuildResult> {
  const db = deps.db!;
  const started = Date.now();
  const next = `${p.liveSchema}__next`;
  const existing = await readCheckpoint(db, next, p.name);
  if (existing !== null && existing.version !== p.version) await db.execute(sql`DROP SCHEMA ${ident(next)} CASCADE`);
  const start = await prepareSchema(db, p, next);
  deps.progress?.({
    phase: start.seq > 0 ? `resuming at ${start.seq}` : "building",
    applied: 0,
    seq: start.seq,
    pending: 0,
  });
  const counter = { applied: 0 };
  await catchUp(deps, p, next, "building", undefined, counter);
  return withProjectionPaused(deps, p.name, async () => {
    const seq = await catchUp(deps, p, next, "catching up", undefined, counter);
    const problems = (await p.check?.(db, next)) ?? [];
    if (problems.length > 0)
      throw new MaintenanceError(
        `the rebuilt ${p.name} failed its checks, the live one stays:\n  - ${problems.join("\n  - ")}`,
      );
    const old = `${p.liveSchema}__old`;
    await db.transaction(async (tx) => {
      await tx.execute(sql`DROP SCHEMA IF EXISTS ${ident(old)} CASCADE`);
      if (await schemaExistsTx(tx, p.liveSchema))
        await tx.execute(sql`ALTER SCHEMA ${ident(p.liveSchema)} RENAME TO ${ident(old)}`);
      await tx.execute(sql`ALTER SCHEMA ${ident(next)} RENAME TO ${ident(p.liveSchema)}`);
    });
    // Readers that keep answers from the read model (the read API's timeline cache) drop them all.
    announceApplied(deps.nc, p.name, { seq, rooms: null });
    // At the server before the CLI goes on (and exits): a core publish left in the buffer is lost.
    await deps.nc.flush();
    if (!options.keepOld) await db.execute(sql`DROP SCHEMA IF EXISTS ${ident(old)} CASCADE`);
    deps.progress?.({ phase: "swapped", applied: counter.applied, seq, pending: 0 });
    return { projection: p.name, applied: counter.applied, seq, swapped: true, ms: Date.now() - started };
  });
}

async function schemaExistsTx(tx: Parameters<Parameters<Db["transaction"]>[0]>[0], schema: string): Promise<boolean> {
  return (await query(tx, sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${schema}`)).length > 0;
}

/** One difference between the live read model and a fresh build. */
export type Difference = { projection: string; table: string; side: "live only" | "rebuilt only"; row: unknown };

/**
 * Rebuilds a PostgreSQL projection into a scratch schema up to the live checkpoint (pausing the
 * live projector for the last stretch) and compares every table row for row. Resolves with the
 * differences (none on a consistent system); the scratch schema is dropped afterwards.
 */
export async function verifyPg(
  deps: MaintenanceDeps,
  p: PgProjection,
  options: { maxDifferences?: number } = {},
): Promise<Difference[]> {
  const db = deps.db!;
  const scratch = `${p.liveSchema}__verify`;
  const live = await readCheckpoint(db, p.liveSchema, p.name);
  if (live === null) throw new MaintenanceError(`${p.name} has no live read model yet: start the projections first`);
  await db.execute(sql`DROP SCHEMA IF EXISTS ${ident(scratch)} CASCADE`);
  await prepareSchema(db, p, scratch);
  try {
    await catchUp(deps, p, scratch, "building", live.seq);
    return await withProjectionPaused(deps, p.name, async () => {
      const frozen = (await readCheckpoint(db, p.liveSchema, p.name))!.seq;
      await catchUp(deps, p, scratch, "catching up", frozen);
      // Events the live projector parked are not in its tables: leave them out of the comparison too.
      const parked = await listParked(db, p.liveSchema);
      if (parked.length > 0)
        deps.progress?.({
          phase: `${parked.length} parked events in the live model`,
          applied: 0,
          seq: frozen,
          pending: 0,
        });
      deps.progress?.({ phase: "comparing", applied: 0, seq: frozen, pending: 0 });
      const max = options.maxDifferences ?? 100;
      const out: Difference[] = [];
      for (const t of p.tables) {
        const a = sql`${ident(p.liveSchema)}.${ident(t.name)}`;
        const b = sql`${ident(scratch)}.${ident(t.name)}`;
        const liveOnly = await query<{ r: unknown }>(
          db,
          sql`SELECT row_to_json(x) AS r FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b}) x LIMIT ${max}`,
        );
        const rebuiltOnly = await query<{ r: unknown }>(
          db,
          sql`SELECT row_to_json(x) AS r FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a}) x LIMIT ${max}`,
        );
        for (const r of liveOnly) out.push({ projection: p.name, table: t.name, side: "live only", row: r.r });
        for (const r of rebuiltOnly) out.push({ projection: p.name, table: t.name, side: "rebuilt only", row: r.r });
      }
      return out;
    });
  } finally {
    await db.execute(sql`DROP SCHEMA IF EXISTS ${ident(scratch)} CASCADE`);
  }
}

/** Reads a KV projection's events from the whole log and computes what its buckets must hold. */
async function expectedKv(
  deps: MaintenanceDeps,
  p: KvProjection,
  untilSeq?: number,
): Promise<{ expected: Map<string, Map<string, string>>; seq: number }> {
  const events: EventEnvelope[] = [];
  const end = await scanLog(deps.nc, { filterSubjects: p.filterSubjects, untilSeq }, (batch, at) => {
    events.push(...batch);
    deps.progress?.({ phase: "reading", applied: events.length, seq: at.seq, pending: at.pending });
  });
  return { expected: p.expected(events), seq: end.seq };
}

async function bucketContents(kv: KV): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const k of await kv.keys()) {
    const e = await kv.get(k);
    if (e !== null && e.operation === "PUT") out.set(k, e.string());
  }
  return out;
}

function diffBuckets(
  p: KvProjection,
  expected: Map<string, Map<string, string>>,
  actual: Map<string, Map<string, string>>,
): Difference[] {
  const out: Difference[] = [];
  for (const bucket of p.buckets) {
    const want = expected.get(bucket) ?? new Map();
    const have = actual.get(bucket) ?? new Map();
    for (const [k, v] of have)
      if (want.get(k) !== v)
        out.push({ projection: p.name, table: bucket, side: "live only", row: { key: k, value: v } });
    for (const [k, v] of want)
      if (have.get(k) !== v)
        out.push({ projection: p.name, table: bucket, side: "rebuilt only", row: { key: k, value: v } });
  }
  return out;
}

/** Opens a KV projection's buckets, making those missing as the services do, with `replicas`. */
async function openBuckets(nc: NatsConnection, p: KvProjection, replicas = 1): Promise<Record<string, KV>> {
  return Object.fromEntries(
    await Promise.all(p.buckets.map(async (b) => [b, await openBucket(nc, b, replicas)] as const)),
  );
}

/** Compares a KV projection's buckets with what the log says they hold (up to its checkpoint). */
export async function verifyKv(deps: MaintenanceDeps, p: KvProjection): Promise<Difference[]> {
  const buckets = await openBuckets(deps.nc, p, deps.replicas);
  return withProjectionPaused(deps, p.name, async () => {
    const cps = await openCheckpointBucket(deps.nc, deps.replicas);
    const e = await cps.get(p.name);
    const cp = e?.operation === "PUT" ? Number(e.string()) : 0;
    const { expected } = await expectedKv(deps, p, cp);
    const actual = new Map(
      await Promise.all(p.buckets.map(async (b) => [b, await bucketContents(buckets[b]!)] as const)),
    );
    return diffBuckets(p, expected, actual);
  });
}

/**
 * Rebuilds a KV projection from the whole log: computes what each bucket must hold and writes
 * only the keys that differ, while the live projector is paused, so no reader sees an empty
 * bucket. Then moves its checkpoint to the end of what it read.
 */
export async function rebuildKv(deps: MaintenanceDeps, p: KvProjection): Promise<RebuildResult> {
  const started = Date.now();
  const buckets = await openBuckets(deps.nc, p, deps.replicas);
  return withProjectionPaused(deps, p.name, async () => {
    const cps = await openCheckpointBucket(deps.nc, deps.replicas);
    // The checkpoint moves only from what it was now: should this run lose its lease (frozen past
    // it), a projector that took over and applied meanwhile is not moved back.
    const before = await cps.get(p.name);
    const { expected, seq } = await expectedKv(deps, p);
    const actual = new Map(
      await Promise.all(p.buckets.map(async (b) => [b, await bucketContents(buckets[b]!)] as const)),
    );
    const diffs = diffBuckets(p, expected, actual);
    let applied = 0;
    for (const d of diffs) {
      const { key, value } = d.row as { key: string; value: string };
      if (d.side === "rebuilt only") await buckets[d.table]!.put(key, value);
      else if (!expected.get(d.table)?.has(key)) await buckets[d.table]!.purge(key);
      applied++;
    }
    try {
      if (before === null) await cps.create(p.name, String(seq));
      else await cps.update(p.name, String(seq), before.revision);
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
      throw new MaintenanceError(
        `the checkpoint of ${p.name} moved during the rebuild (a projector applied events: this run lost its lease?); nothing was moved back: run the rebuild again`,
        { cause: err },
      );
    }
    deps.progress?.({ phase: "swapped", applied, seq, pending: 0 });
    return { projection: p.name, applied, seq, swapped: true, ms: Date.now() - started };
  });
}

/** Rebuilds any projection. */
export function rebuild(
  deps: MaintenanceDeps,
  p: Projection,
  options: { keepOld?: boolean } = {},
): Promise<RebuildResult> {
  return p.kind === "pg" ? rebuildPg(deps, p, options) : rebuildKv(deps, p);
}

/** Verifies any projection. */
export function verify(deps: MaintenanceDeps, p: Projection): Promise<Difference[]> {
  return p.kind === "pg" ? verifyPg(deps, p) : verifyKv(deps, p);
}

/** The outcome of retrying or skipping parked events. */
export type FailureResult = {
  seq: number;
  subject: string;
  status: string;
  outcome: "applied" | "skipped" | "failed";
  error?: string;
};

/**
 * Retries (or, with `skip`, drops) a projection's failed and halted events, oldest first, each in
 * its own transaction; after a success (or skip) the events held behind it are applied in order.
 * An event that fails again stays parked with its new error.
 */
export async function resolveFailures(
  deps: MaintenanceDeps,
  p: PgProjection,
  mode: "retry" | "skip",
  only?: number,
): Promise<FailureResult[]> {
  const db = deps.db!;
  const store = new EventStore(deps.nc);
  const out: FailureResult[] = [];
  const parked = await listParked(db, p.liveSchema);
  for (const f of parked.filter((x) => x.status !== "held" && (only === undefined || x.seq === only))) {
    let ok = true;
    let error: string | undefined;
    try {
      await db.transaction(async (tx) => {
        await lockProjection(tx, p.liveSchema);
        if (mode === "retry") {
          const e = await store.readEvent(f.seq);
          if (e === null) throw new Error(`event ${f.seq} is not in the log`);
          await p.apply(tx, p.liveSchema, [e]);
        }
        await tx.execute(sql`DELETE FROM ${ident(p.liveSchema)}.parked WHERE seq = ${f.seq}`);
        if (f.status === "halted") {
          const cp = (await readCheckpoint(tx, p.liveSchema, p.name))!.seq;
          if (cp < f.seq) await advanceCheckpoint(tx, p.liveSchema, p.name, cp, f.seq);
        }
      });
    } catch (err) {
      ok = false;
      error = (err as Error).message;
      await db.execute(
        sql`UPDATE ${ident(p.liveSchema)}.parked SET error = ${parkedErrorText(error)}, attempts = attempts + 1 WHERE seq = ${f.seq}`,
      );
    }
    out.push({
      seq: f.seq,
      subject: f.subject,
      status: f.status,
      outcome: ok ? (mode === "retry" ? "applied" : "skipped") : "failed",
      ...(error ? { error } : {}),
    });
    if (!ok) continue;
    // Release what waited behind it, in order, until the subject has no parked event left.
    for (;;) {
      const held = (await listParked(db, p.liveSchema)).filter((x) => x.subject === f.subject);
      if (held.length === 0 || held[0]!.status !== "held") break;
      const h = held[0]!;
      try {
        await db.transaction(async (tx) => {
          await lockProjection(tx, p.liveSchema);
          const e = await store.readEvent(h.seq);
          if (e === null) throw new Error(`event ${h.seq} is not in the log`);
          await p.apply(tx, p.liveSchema, [e]);
          await tx.execute(sql`DELETE FROM ${ident(p.liveSchema)}.parked WHERE seq = ${h.seq}`);
        });
        out.push({ seq: h.seq, subject: h.subject, status: "held", outcome: "applied" });
      } catch (err) {
        const message = (err as Error).message;
        await db.execute(
          sql`UPDATE ${ident(p.liveSchema)}.parked SET status = 'failed', error = ${parkedErrorText(message)} WHERE seq = ${h.seq}`,
        );
        out.push({ seq: h.seq, subject: h.subject, status: "held", outcome: "failed", error: message });
        break;
      }
    }
  }
  // The events applied here did not go through the projector: tell readers that keep answers.
  if (out.some((r) => r.outcome === "applied")) {
    announceApplied(deps.nc, p.name, { seq: (await readCheckpoint(db, p.liveSchema, p.name))?.seq ?? 0, rooms: null });
    await deps.nc.flush();
  }
  return out;
}

export { schemaExists };

/**
 * The replay tool's work on the read models, apart from how it is printed: the CLI runs it itself,
 * or, on embedded defaults, natter runs it for the CLI in its own process (maintenanceService.ts),
 * since PGlite serves only the process that opened it.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import {
  auditFromReadModel,
  listParked,
  parkedState,
  PROJECTIONS,
  projectionNamed,
  readCheckpoint,
  rebuild,
  resolveFailures,
  verify,
  type AuditFilter,
  type Db,
  type MaintenanceDeps,
  type MaintenanceProgress,
  type PgProjection,
  type Projection,
} from "../projections/index.ts";
import { consumerName, Lease, leaseKey, openCheckpointBucket, openLockBucket } from "../projections/internal.ts";
import { assertNever } from "../domain/index.ts";
import { EVENT_STREAM } from "../streams/index.ts";
import { UsageError } from "./context.ts";

/** The connections an operation uses and how maintenance work is set up on them. */
export type Workspace = {
  nats(): Promise<NatsConnection>;
  db(): Promise<Db>;
  maintenance(nc: NatsConnection, db?: Db): MaintenanceDeps;
};

/** A progress bar for one stretch of long work. */
export type ProgressBar = { update(p: MaintenanceProgress): void; stop(): void };

/** Where an operation says how it goes: progress bars (one at a time) and lines for the operator. */
export type Reporter = { bar(label: string): ProgressBar; note(line: string): void };

const auditFilter = z
  .object({
    actor: z.string().optional(),
    room: z.string().optional(),
    type: z.string().optional(),
    aggregate: z.string().optional(),
    correlation: z.string().optional(),
    // A Date here, an ISO string once it has travelled as JSON.
    since: z.coerce.date().optional(),
    until: z.coerce.date().optional(),
    limit: z.number().int().positive().optional(),
  })
  .strict();

/** The operations that need the read models' database, as data (so that they can travel to natter). */
export const Operation = z.discriminatedUnion("op", [
  z.object({ op: z.literal("list") }).strict(),
  z.object({ op: z.literal("rebuild"), projection: z.string(), keepOld: z.boolean() }).strict(),
  z.object({ op: z.literal("verify"), projection: z.string() }).strict(),
  z.object({ op: z.literal("audit"), filter: auditFilter }).strict(),
  z
    .object({
      op: z.literal("failures"),
      projection: z.string().optional(),
      mode: z.enum(["retry", "skip"]).optional(),
      seq: z.number().int().positive().optional(),
    })
    .strict(),
]);
export type Operation = z.infer<typeof Operation>;

/** What an operation found: the rows to print and the exit status. */
export type OperationResult = { rows: Record<string, unknown>[]; code: number };

/** True for the operations that change read models or pause projectors (natter runs those one at a time). */
export const changesReadModels = (op: Operation): boolean =>
  op.op === "rebuild" || op.op === "verify" || (op.op === "failures" && op.mode !== undefined);

/** `name`'s projections (`all`: every one); an unknown name is a usage error. */
export function projectionsFor(name: string): Projection[] {
  if (name === "all") return [...PROJECTIONS.values()];
  try {
    return [projectionNamed(name)];
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function list(ws: Workspace): Promise<OperationResult> {
  const nc = await ws.nats();
  const jsm = await jetstreamManager(nc);
  const deps = ws.maintenance(nc);
  const locks = await openLockBucket(nc, deps.leaseMs ?? 5000, { replicas: deps.replicas });
  const rows: Record<string, unknown>[] = [];
  for (const p of PROJECTIONS.values()) {
    let version = `${p.version}`;
    let checkpoint: number | string = "-";
    let parked: number | string = "-";
    let state = "ok";
    if (p.kind === "pg") {
      const db = await ws.db();
      const cp = await readCheckpoint(db, p.liveSchema, p.name);
      if (cp !== null) {
        version = cp.version === p.version ? `${p.version}` : `${cp.version} (code ${p.version}: rebuild)`;
        checkpoint = cp.seq;
        const waiting = await listParked(db, p.liveSchema);
        parked = waiting.length;
        // What /healthz says of it too: an operator acts on either (replay failures).
        state = parkedState(waiting);
      }
    } else {
      const e = await (await openCheckpointBucket(nc, deps.replicas)).get(p.name);
      checkpoint = e?.operation === "PUT" ? Number(e.string()) : 0;
    }
    const info = await jsm.consumers.info(EVENT_STREAM, consumerName(p.name)).catch(() => null);
    const lag = info === null ? "-" : info.num_pending + info.num_ack_pending;
    const active = (await Lease.holder(locks, leaseKey(p.name))) ?? "none";
    rows.push({ projection: p.name, kind: p.kind, version, checkpoint, lag, parked, state, active });
  }
  return { rows, code: 0 };
}

async function rebuildAll(ws: Workspace, name: string, keepOld: boolean, report: Reporter): Promise<OperationResult> {
  const rows: Record<string, unknown>[] = [];
  for (const p of projectionsFor(name)) {
    const nc = await ws.nats();
    const db = p.kind === "pg" ? await ws.db() : undefined;
    const left = db !== undefined && p.kind === "pg" ? await readCheckpoint(db, `${p.liveSchema}__next`, p.name) : null;
    if (left !== null && left.version === p.version && left.seq > 0)
      report.note(`${p.name}: resuming the build an earlier run left at seq ${left.seq}`);
    const bar = report.bar(p.name);
    try {
      const r = await rebuild({ ...ws.maintenance(nc, db), progress: (x) => bar.update(x) }, p, { keepOld });
      rows.push({
        projection: r.projection,
        applied: r.applied,
        seq: r.seq,
        seconds: (r.ms / 1000).toFixed(1),
        eventsPerSecond: Math.round(r.applied / Math.max(0.001, r.ms / 1000)),
      });
    } finally {
      bar.stop();
    }
  }
  return { rows, code: 0 };
}

async function verifyAll(ws: Workspace, name: string, report: Reporter): Promise<OperationResult> {
  const rows: Record<string, unknown>[] = [];
  for (const p of projectionsFor(name)) {
    const nc = await ws.nats();
    const db = p.kind === "pg" ? await ws.db() : undefined;
    const bar = report.bar(`verify ${p.name}`);
    try {
      for (const d of await verify({ ...ws.maintenance(nc, db), progress: (x) => bar.update(x) }, p))
        rows.push({ ...d });
    } finally {
      bar.stop();
    }
  }
  return { rows, code: rows.length > 0 ? 1 : 0 };
}

async function failures(ws: Workspace, op: Extract<Operation, { op: "failures" }>): Promise<OperationResult> {
  const chosen = (op.projection === undefined ? [...PROJECTIONS.values()] : projectionsFor(op.projection)).filter(
    (p): p is PgProjection => p.kind === "pg",
  );
  if (chosen.length === 0)
    throw new UsageError(`${op.projection} keeps no parked events (only PostgreSQL projections park)`);
  const db = await ws.db();
  const rows: Record<string, unknown>[] = [];
  if (op.mode !== undefined) {
    const nc = await ws.nats();
    for (const p of chosen)
      for (const r of await resolveFailures(ws.maintenance(nc, db), p, op.mode, op.seq))
        rows.push({ projection: p.name, ...r });
    return { rows, code: rows.some((r) => r["outcome"] === "failed") ? 1 : 0 };
  }
  for (const p of chosen) for (const f of await listParked(db, p.liveSchema)) rows.push({ projection: p.name, ...f });
  return { rows, code: 0 };
}

/** Runs `op` on `ws`, reporting to `report`; a usage problem rejects with a UsageError. */
export async function runOperation(ws: Workspace, op: Operation, report: Reporter): Promise<OperationResult> {
  switch (op.op) {
    case "list":
      return list(ws);
    case "rebuild":
      return rebuildAll(ws, op.projection, op.keepOld, report);
    case "verify":
      return verifyAll(ws, op.projection, report);
    case "audit": {
      const filter: AuditFilter = {};
      for (const [k, v] of Object.entries(op.filter)) if (v !== undefined) Object.assign(filter, { [k]: v });
      return { rows: await auditFromReadModel(await ws.db(), filter), code: 0 };
    }
    case "failures":
      return failures(ws, op);
    default:
      return assertNever(op);
  }
}

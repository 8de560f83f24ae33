import { sql } from "drizzle-orm";
import { storableText } from "../domain/index.ts";
import type { EventEnvelope } from "../streams/index.ts";
import { ident, query, type Db, type Tx } from "./db.ts";
import { migrateSchema } from "./migrate.ts";
import type { PgProjection } from "./projection.ts";

/** Where a projection stands in a schema. */
export type Checkpoint = { version: number; seq: number };

/** A parked event: one that failed (`failed`, `halted`) or waits behind one (`held`). */
export type ParkedEvent = {
  seq: number;
  subject: string;
  type: string;
  status: "failed" | "held" | "halted";
  error: string;
  attempts: number;
  parkedAt: string;
};

/** Another writer moved the checkpoint: this one is no longer the active instance. */
export class CheckpointMovedError extends Error {
  constructor(schema: string, expected: number) {
    super(`the checkpoint of ${schema} is no longer at ${expected}: another instance applied events`);
    this.name = "CheckpointMovedError";
  }
}

/**
 * How long a batch's transaction may sit idle (no statement running) before PostgreSQL ends its
 * session, unless the caller says (the projector gives its lease's time to live: a writer idle that
 * long has lost its lease anyway). Far longer than any pause between statements of a working batch.
 */
export const IDLE_IN_BATCH_MS = 5000;

/** A stable 32-bit key for a projection's advisory lock (held by every write to its bookkeeping). */
function lockKey(schema: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) h = Math.imul(h ^ schema.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** Takes the projection's transaction-scoped advisory lock, serializing projector and CLI writes. */
export async function lockProjection(tx: Tx, schema: string): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${lockKey(schema)})`);
}

/**
 * Creates `schema` with the projection's tables (migrating an older one), and its checkpoint row
 * at 0 with the code's version if it has none.
 */
export async function prepareSchema(db: Db, projection: PgProjection, schema: string): Promise<Checkpoint> {
  await migrateSchema(db, projection.migrationsDir, projection.liveSchema, schema);
  await db.execute(
    sql`INSERT INTO ${ident(schema)}.checkpoint (projection, version, seq) VALUES (${projection.name}, ${projection.version}, 0) ON CONFLICT DO NOTHING`,
  );
  return (await readCheckpoint(db, schema, projection.name))!;
}

/** The checkpoint in `schema`, or null when the schema or row is missing. */
export async function readCheckpoint(db: Db | Tx, schema: string, name: string): Promise<Checkpoint | null> {
  try {
    const rows = await query<{ version: number; seq: string | number }>(
      db,
      sql`SELECT version, seq FROM ${ident(schema)}.checkpoint WHERE projection = ${name}`,
    );
    return rows[0] === undefined ? null : { version: Number(rows[0].version), seq: Number(rows[0].seq) };
  } catch {
    return null;
  }
}

/** True when `schema` exists. */
export async function schemaExists(db: Db, schema: string): Promise<boolean> {
  const rows = await query(db, sql`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${schema}`);
  return rows.length > 0;
}

/** Moves the checkpoint from `expected` to `seq` inside `tx`, or throws CheckpointMovedError. */
export async function advanceCheckpoint(
  tx: Tx,
  schema: string,
  name: string,
  expected: number,
  seq: number,
): Promise<void> {
  const rows = await query(
    tx,
    sql`UPDATE ${ident(schema)}.checkpoint SET seq = ${seq}, updated_at = now() WHERE projection = ${name} AND seq = ${expected} RETURNING seq`,
  );
  if (rows.length !== 1) throw new CheckpointMovedError(schema, expected);
}

/**
 * Applies events and moves the checkpoint to the last one's sequence in one transaction, so a
 * batch is applied exactly once: a redelivered batch finds the checkpoint past it.
 */
export async function applyBatch(
  db: Db,
  projection: PgProjection,
  schema: string,
  events: readonly EventEnvelope[],
  expected: number,
  idleMs = IDLE_IN_BATCH_MS,
): Promise<number> {
  const last = events.at(-1)?.seq ?? expected;
  await db.transaction(async (tx) => {
    // A writer frozen mid-batch (a stopped process, a paused VM) would hold the lock below until it
    // resumes, and the instance that took over its lease would wait for it: PostgreSQL ends such a
    // session after this long, which rolls the batch back and frees the lock.
    // (One round trip for both: the setting, local to the transaction, and the lock.)
    await tx.execute(
      sql`SELECT set_config('idle_in_transaction_session_timeout', ${String(Math.max(1000, Math.round(idleMs)))}, true), pg_advisory_xact_lock(${lockKey(schema)})`,
    );
    // Check before applying (the lock keeps it so until the commit): an instance that lost its
    // lease would otherwise meet the rows the new one wrote (a duplicate key) and take its own
    // batch for a poison event.
    const at = await query<{ seq: string }>(
      tx,
      sql`SELECT seq FROM ${ident(schema)}.checkpoint WHERE projection = ${projection.name}`,
    );
    if (Number(at[0]?.seq) !== expected) throw new CheckpointMovedError(schema, expected);
    await projection.apply(tx, schema, events);
    await advanceCheckpoint(tx, schema, projection.name, expected, last);
  });
  return last;
}

/** An error as the parked table stores it: its head, with what the database refuses replaced (it may quote the event). */
export function parkedErrorText(error: string): string {
  return storableText(error.slice(0, 4000));
}

/**
 * Records parked events and moves the checkpoint past them (unless `advanceTo` is null: halted).
 * The park itself never fails on an event's content: its error text (which may quote the event)
 * and its type and subject are made storable first.
 */
export async function parkEvents(
  db: Db,
  schema: string,
  name: string,
  rows: Omit<ParkedEvent, "parkedAt">[],
  expected: number,
  advanceTo: number | null,
): Promise<void> {
  await db.transaction(async (tx) => {
    await lockProjection(tx, schema);
    for (const r of rows) {
      await tx.execute(sql`INSERT INTO ${ident(schema)}.parked (seq, subject, type, status, error, attempts) VALUES (${r.seq}, ${storableText(r.subject)}, ${storableText(r.type)}, ${r.status}, ${parkedErrorText(r.error)}, ${r.attempts})
        ON CONFLICT (seq) DO UPDATE SET status = excluded.status, error = excluded.error, attempts = excluded.attempts`);
    }
    if (advanceTo !== null) await advanceCheckpoint(tx, schema, name, expected, advanceTo);
  });
}

/** What a projection's parked events say of it: `halted` at one, `parked` while any wait, else `ok`. */
export function parkedState(parked: readonly Pick<ParkedEvent, "status">[]): "ok" | "parked" | "halted" {
  if (parked.some((x) => x.status === "halted")) return "halted";
  return parked.length > 0 ? "parked" : "ok";
}

/** The parked events of `schema`, oldest first. */
export async function listParked(db: Db | Tx, schema: string): Promise<ParkedEvent[]> {
  const rows = await query<{
    seq: string;
    subject: string;
    type: string;
    status: ParkedEvent["status"];
    error: string;
    attempts: number;
    parked_at: string | Date;
  }>(db, sql`SELECT seq, subject, type, status, error, attempts, parked_at FROM ${ident(schema)}.parked ORDER BY seq`);
  return rows.map((r) => ({
    seq: Number(r.seq),
    subject: r.subject,
    type: r.type,
    status: r.status,
    error: r.error,
    attempts: r.attempts,
    parkedAt: new Date(r.parked_at).toISOString(),
  }));
}

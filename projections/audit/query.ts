import type { NatsConnection } from "@nats-io/transport-node";
import { and, asc, eq, gte, lte, type SQL } from "drizzle-orm";
import { scanLog, seqAtTime, type EventEnvelope } from "../../streams/index.ts";
import type { Db } from "../db.ts";
import { auditRoomId } from "./projection.ts";
import { auditTables } from "./tables.ts";

/** What an audit question asks for; every given field must match. */
export type AuditFilter = {
  actor?: string;
  room?: string;
  type?: string;
  /** An aggregate's subject: `ev.room.<id>`, `ev.msg.<room>.<msg>`, `ev.user.<id>` (the `ev.` may be left out). */
  aggregate?: string;
  correlation?: string;
  since?: Date;
  until?: Date;
  /** At most this many rows, oldest first (default 1,000). */
  limit?: number;
};

/** One event as an audit answer shows it. */
export type AuditRow = {
  seq: number;
  time: string;
  type: string;
  actor: string;
  subject: string;
  roomId: string | null;
  commandId: string;
  correlationId: string;
  causationId: string;
  payload: unknown;
};

const live = auditTables("natter_audit");

/** `room.r1` or `ev.room.r1` → `ev.room.r1`. */
export function aggregateSubject(aggregate: string): string {
  return aggregate.startsWith("ev.") ? aggregate : `ev.${aggregate}`;
}

/** True when an event matches the filter (the same rule the read model query applies). */
export function matchesAudit(row: AuditRow, f: AuditFilter): boolean {
  if (f.actor !== undefined && row.actor !== f.actor) return false;
  if (f.room !== undefined && row.roomId !== f.room) return false;
  if (f.type !== undefined && row.type !== f.type) return false;
  if (f.aggregate !== undefined && row.subject !== aggregateSubject(f.aggregate)) return false;
  if (f.correlation !== undefined && row.correlationId !== f.correlation) return false;
  if (f.since !== undefined && new Date(row.time) < f.since) return false;
  if (f.until !== undefined && new Date(row.time) > f.until) return false;
  return true;
}

/** An event envelope as an audit row. */
export function auditRowOf(e: EventEnvelope): AuditRow {
  return {
    seq: e.seq,
    time: e.time,
    type: e.type,
    actor: e.actor,
    subject: e.subject,
    roomId: auditRoomId(e.subject),
    commandId: e.commandId,
    correlationId: e.correlationId,
    causationId: e.causationId,
    payload: e.event.data,
  };
}

/** Answers an audit question from the audit read model. */
export async function auditFromReadModel(db: Db, f: AuditFilter): Promise<AuditRow[]> {
  const t = live.eventLog;
  const where: SQL[] = [];
  if (f.actor !== undefined) where.push(eq(t.actor, f.actor));
  if (f.room !== undefined) where.push(eq(t.roomId, f.room));
  if (f.type !== undefined) where.push(eq(t.type, f.type));
  if (f.aggregate !== undefined) where.push(eq(t.subject, aggregateSubject(f.aggregate)));
  if (f.correlation !== undefined) where.push(eq(t.correlationId, f.correlation));
  if (f.since !== undefined) where.push(gte(t.time, f.since.toISOString()));
  if (f.until !== undefined) where.push(lte(t.time, f.until.toISOString()));
  const rows = await db
    .select()
    .from(t)
    .where(where.length > 0 ? and(...where) : undefined)
    .orderBy(asc(t.seq))
    .limit(f.limit ?? 1000);
  return rows.map((r) => ({ ...r, time: new Date(r.time).toISOString() }));
}

/** Answers an audit question straight from the stream, reading only the subjects it can concern. */
export async function auditFromLog(
  nc: NatsConnection,
  f: AuditFilter,
  progress?: (read: number, pending: number) => void,
): Promise<AuditRow[]> {
  const filterSubjects =
    f.aggregate !== undefined
      ? [aggregateSubject(f.aggregate)]
      : f.room !== undefined
        ? [`ev.room.${f.room}`, `ev.msg.${f.room}.>`]
        : ["ev.>"];
  let fromSeq = 1;
  if (f.since !== undefined) {
    const s = await seqAtTime(nc, f.since);
    if (s === null) return [];
    fromSeq = s;
  }
  const out: AuditRow[] = [];
  const limit = f.limit ?? 1000;
  let stop = false;
  await scanLog(nc, { filterSubjects, fromSeq }, (events, at) => {
    if (stop) return;
    for (const e of events) {
      const row = auditRowOf(e);
      if (f.until !== undefined && new Date(row.time) > f.until) {
        stop = true;
        break;
      }
      if (matchesAudit(row, f)) out.push(row);
      if (out.length >= limit) {
        stop = true;
        break;
      }
    }
    progress?.(at.read, at.pending);
  });
  return out;
}

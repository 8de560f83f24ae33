import { fileURLToPath } from "node:url";
import type { EventEnvelope } from "../../streams/index.ts";
import type { Tx } from "../db.ts";
import { bySchema } from "../common.ts";
import type { PgProjection } from "../projection.ts";
import { auditTables } from "./tables.ts";

type Tables = ReturnType<typeof auditTables>;
const tablesFor: (schema: string) => Tables = bySchema(auditTables);

/**
 * The room id an audit row records for an event's subject: the token after `room` or `msg`
 * (`ev.room.<id>`, `ev.msg.<id>.<msg>`), null for other aggregates. It reads the second and third
 * tokens only: unlike the streams' roomOfEventSubject it checks neither the `ev.` prefix nor that
 * the id is not empty. The read model's rows and auditRowOf (answers from the log) both take it,
 * so the two answers agree.
 */
export function auditRoomId(subject: string): string | null {
  const parts = subject.split(".");
  return parts[1] === "room" || parts[1] === "msg" ? (parts[2] ?? null) : null;
}

async function applyAudit(tx: Tx, schema: string, events: readonly EventEnvelope[]): Promise<void> {
  const t = tablesFor(schema);
  const rows = events.map((e) => ({
    seq: e.seq,
    time: e.time,
    type: e.type,
    actor: e.actor,
    subject: e.subject,
    aggregate: e.subject.split(".")[1] ?? "",
    roomId: auditRoomId(e.subject),
    commandId: e.commandId,
    correlationId: e.correlationId,
    causationId: e.causationId,
    payload: e.event.data,
  }));
  for (let i = 0; i < rows.length; i += 500) await tx.insert(t.eventLog).values(rows.slice(i, i + 500));
}

/** The audit table: every event with its time, type, actor, subject, room, correlation and payload. */
export const auditProjection: PgProjection = {
  kind: "pg",
  name: "audit",
  version: 1,
  liveSchema: "natter_audit",
  migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)),
  filterSubjects: ["ev.>"],
  tables: [{ name: "event_log", orderBy: "seq" }],
  apply: applyAudit,
};

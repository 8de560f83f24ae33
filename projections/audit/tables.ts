import { bigint, index, jsonb, pgSchema, text, timestamp } from "drizzle-orm/pg-core";

/** The audit read model: every event of the log (the live schema is `natter_audit`). */
export function auditTables(name: string) {
  const s = pgSchema(name);
  return {
    schema: s,
    eventLog: s.table(
      "event_log",
      {
        seq: bigint("seq", { mode: "number" }).primaryKey(),
        time: timestamp("time", { withTimezone: true, mode: "string" }).notNull(),
        type: text("type").notNull(),
        actor: text("actor").notNull(),
        subject: text("subject").notNull(),
        /** `room`, `msg` or `user`. */
        aggregate: text("aggregate").notNull(),
        roomId: text("room_id"),
        commandId: text("command_id").notNull(),
        correlationId: text("correlation_id").notNull(),
        causationId: text("causation_id").notNull(),
        payload: jsonb("payload").notNull(),
      },
      (t) => [
        index("event_log_actor").on(t.actor, t.seq),
        index("event_log_room").on(t.roomId, t.seq),
        index("event_log_type").on(t.type, t.seq),
        index("event_log_subject").on(t.subject, t.seq),
        index("event_log_correlation").on(t.correlationId),
        index("event_log_time").on(t.time),
      ],
    ),
  };
}

/** The live audit table (drizzle-kit generates the migrations from it). */
export const audit = auditTables("natter_audit");

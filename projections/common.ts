import { bigint, integer, pgSchema, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The bookkeeping every PostgreSQL projection keeps in its own schema: its checkpoint (written in
 * the same transaction as its rows) and its parked events.
 */
export function bookkeepingTables(name: string) {
  const s = pgSchema(name);
  return {
    checkpoint: s.table("checkpoint", {
      projection: text("projection").primaryKey(),
      version: integer("version").notNull(),
      seq: bigint("seq", { mode: "number" }).notNull(),
      updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
    }),
    /** Events that failed (`failed`) and the later events of their aggregates held behind them (`held`). */
    parked: s.table("parked", {
      seq: bigint("seq", { mode: "number" }).primaryKey(),
      subject: text("subject").notNull(),
      type: text("type").notNull(),
      status: text("status").notNull(),
      error: text("error").notNull(),
      attempts: integer("attempts").notNull(),
      parkedAt: timestamp("parked_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
    }),
  };
}

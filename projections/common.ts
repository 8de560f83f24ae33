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

/**
 * Memoizes a table factory by schema name: a projection's drizzle tables for the live schema and
 * for the copies rebuilds and verifies build beside it.
 *
 * @example const tablesFor = bySchema(timelineTables); tablesFor("natter_timeline__next").messages
 */
export function bySchema<T>(factory: (schema: string) => T): (schema: string) => T {
  const cache = new Map<string, T>();
  return (schema) => {
    let t = cache.get(schema);
    if (t === undefined) cache.set(schema, (t = factory(schema)));
    return t;
  };
}

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { ident, query, type Db } from "./db.ts";

type Journal = { entries: { idx: number; tag: string }[] };

/**
 * Applies a projection's drizzle-kit migrations (generated for its live schema `liveSchema`) to
 * the schema `target`, which may be the live one or a copy being built beside it. Each migration
 * runs in one transaction and is recorded in `<target>.__migrations`; applied ones are skipped.
 */
export async function migrateSchema(
  db: Db,
  migrationsDir: string,
  liveSchema: string,
  target: string,
): Promise<string[]> {
  const journal = JSON.parse(await readFile(join(migrationsDir, "meta", "_journal.json"), "utf8")) as Journal;
  await db.execute(sql`CREATE SCHEMA IF NOT EXISTS ${ident(target)}`);
  await db.execute(
    sql`CREATE TABLE IF NOT EXISTS ${ident(target)}."__migrations" (tag text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const done = new Set(
    (await query<{ tag: string }>(db, sql`SELECT tag FROM ${ident(target)}."__migrations"`)).map((r) => r.tag),
  );
  const applied: string[] = [];
  for (const entry of [...journal.entries].sort((a, b) => a.idx - b.idx)) {
    if (done.has(entry.tag)) continue;
    const text = await readFile(join(migrationsDir, `${entry.tag}.sql`), "utf8");
    const statements = text
      .split("--> statement-breakpoint")
      .map((s) => s.trim())
      .filter((s) => s.length > 0 && !/^CREATE SCHEMA\b/i.test(s))
      .map((s) => s.replaceAll(`"${liveSchema}".`, `"${target}".`));
    await db.transaction(async (tx) => {
      for (const s of statements) await tx.execute(sql.raw(s));
      await tx.execute(sql`INSERT INTO ${ident(target)}."__migrations" (tag) VALUES (${entry.tag})`);
    });
    applied.push(entry.tag);
  }
  return applied;
}

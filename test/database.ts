import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { openDatabase, type Database } from "../projections/db.ts";

/**
 * A fresh database for one test file: a new database on the PostgreSQL server found by the test
 * setup (DATABASE_URL, or the local server), dropped afterwards; PGlite in memory when no
 * PostgreSQL was reachable (or `pglite: true`).
 */
export async function openTestDatabase(
  options: { pglite?: boolean } = {},
): Promise<Database & { url: string | undefined }> {
  const admin = inject("postgresAdminUrl");
  if (admin === null || options.pglite) {
    const db = await openDatabase({});
    return { ...db, url: undefined };
  }
  const name = `natter_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const url = u.toString();
  const db = await openDatabase({ url });
  return {
    ...db,
    url,
    async close() {
      await db.close();
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

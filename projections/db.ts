import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { sql, type SQL } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import pg from "pg";

/** A drizzle database on PostgreSQL or PGlite; both speak the same query builder. */
export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;
/** A transaction of a Db. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** An open database and what it is. */
export type Database = {
  readonly db: Db;
  readonly kind: "postgres" | "pglite";
  /** Where it is, for logs (the URL without its password, or the PGlite folder). */
  readonly where: string;
  close(): Promise<void>;
};

export type OpenDatabaseOptions = {
  /** A PostgreSQL URL; absent: PGlite in `pgliteDir`. */
  url?: string | undefined;
  /** The PGlite data folder (absent: in memory). */
  pgliteDir?: string | undefined;
  /** Connections in the pool (PostgreSQL). */
  poolSize?: number;
};

/** Hides the password of a database URL. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * Opens PostgreSQL at `url`, or PGlite (PostgreSQL in-process) in `pgliteDir` when no URL is
 * given. Rejects with a message that names what to check when PostgreSQL cannot be reached.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.url) {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 8 });
    pool.on("error", () => {
      // An idle client lost its connection; the pool replaces it on the next query.
    });
    pool.on("connect", (client) => {
      // A session PostgreSQL ends while it is checked out (a batch left idle too long, see
      // applyBatch; a server restart) says so on the client: the statement that uses it next fails
      // and the pool drops it on release. Without a listener that error would end the process.
      client.on("error", () => undefined);
    });
    try {
      const c = await pool.connect();
      c.release();
    } catch (err) {
      await pool.end();
      throw new Error(
        `cannot reach PostgreSQL at ${redactUrl(options.url)}: ${(err as Error).message} (check DATABASE_URL)`,
        { cause: err },
      );
    }
    const db = drizzleNodePg(pool) as unknown as Db;
    return { db, kind: "postgres", where: redactUrl(options.url), close: () => pool.end() };
  }
  if (options.pgliteDir) await mkdir(options.pgliteDir, { recursive: true });
  const client = options.pgliteDir ? await PGlite.create(options.pgliteDir) : await PGlite.create();
  const db = drizzlePglite(client) as unknown as Db;
  return { db, kind: "pglite", where: options.pgliteDir ?? "memory", close: () => client.close() };
}

/** Runs a statement and returns its rows. */
export async function query<T = Record<string, unknown>>(db: Db | Tx, statement: SQL): Promise<T[]> {
  const r = (await db.execute(statement)) as unknown as { rows: T[] };
  return r.rows;
}

/** A quoted SQL identifier (schema, table or column name). */
export function ident(name: string): SQL {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a safe SQL identifier: ${name}`);
  return sql.raw(`"${name}"`);
}

import { existsSync } from "node:fs";
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import pg from "pg";
import { findNatsServerBinary } from "../streams/natsServer.ts";

declare module "vitest" {
  export interface ProvidedContext {
    natsServerBinary: string;
    /** A PostgreSQL URL allowed to create databases, or null to run the database suites on PGlite. */
    postgresAdminUrl: string | null;
  }
}

/** The PostgreSQL the suites use: DATABASE_URL, else the local server; null when none answers. */
async function findPostgres(): Promise<string | null> {
  const candidates = [process.env["DATABASE_URL"], "postgres://postgres@127.0.0.1:5432/postgres"].filter(
    (u): u is string => !!u,
  );
  for (const url of candidates) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.query("SELECT 1");
      await c.end();
      return url;
    } catch {
      await c.end().catch(() => undefined);
    }
  }
  return null;
}

/** Obtains the nats-server binary once per run and finds the PostgreSQL for the database suites. */
export default async function setup(project: TestProject): Promise<void> {
  const binary = await findNatsServerBinary();
  project.provide("natsServerBinary", binary);
  const postgres = process.env["NATTER_TEST_PGLITE"] === "1" ? null : await findPostgres();
  project.provide("postgresAdminUrl", postgres);
  if (postgres === null) {
    console.log(
      "natter tests: no PostgreSQL reachable (DATABASE_URL or 127.0.0.1:5432): the PostgreSQL suites run on PGlite",
    );
  } else {
    const u = new URL(postgres);
    console.log(
      `natter tests: the PostgreSQL suites run on the real server at ${u.host} (a fresh database per test file)`,
    );
  }
  const chromium = process.env["NATTER_CHROMIUM"] ?? "/usr/bin/chromium";
  // CI sets this: there the browser suites must run, never be skipped for a missing install.
  if (process.env["NATTER_REQUIRE_BROWSER"] === "1" && !existsSync(chromium)) {
    throw new Error(
      `NATTER_REQUIRE_BROWSER=1 but there is no chromium at ${chromium}: install Debian's chromium (apt-get install chromium) or set NATTER_CHROMIUM`,
    );
  }
  console.log(
    existsSync(chromium)
      ? `natter tests: the browser tests drive ${chromium}`
      : `natter tests: no chromium at ${chromium}: the browser tests are SKIPPED (install Debian's chromium: apt-get install chromium, or set NATTER_CHROMIUM)`,
  );
}

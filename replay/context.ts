import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfig, type Config } from "../config.ts";
import { openDatabase, type Database, type Db, type MaintenanceDeps } from "../projections/index.ts";
import { loadOrCreateAuthKeys, serviceInboxPrefix } from "../auth/index.ts";
import { connectNats } from "../streams/index.ts";

/** What `npm start` writes to its data dir so that tools find the embedded servers. */
export type RuntimeFile = { pid: number; natsUrl: string; databaseUrl: string | null; pgliteDir: string | null };

/** The runtime file's path in the data dir. */
export const runtimeFilePath = (dataDir: string): string => join(dataDir, "natter.runtime.json");

/** A usage or environment problem: printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function running(dataDir: string): RuntimeFile | null {
  const file = runtimeFilePath(dataDir);
  if (!existsSync(file)) return null;
  try {
    const r = JSON.parse(readFileSync(file, "utf8")) as RuntimeFile;
    process.kill(r.pid, 0);
    return r;
  } catch {
    return null;
  }
}

/** The connections a CLI command needs, opened on first use and closed at the end. */
export class CliContext {
  readonly config: Config;
  private nc: NatsConnection | undefined;
  private database: Database | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.config = loadConfig(env);
  }

  /** NATS: NATS_URL, or the embedded server of a running `npm start`. */
  async nats(): Promise<NatsConnection> {
    if (this.nc) return this.nc;
    const url = this.config.natsUrl ?? running(this.config.dataDir)?.natsUrl;
    if (url === undefined) throw new UsageError(`NATS_URL is not set and no natter is running with data dir ${this.config.dataDir}: set NATS_URL, or start natter (npm start)`);
    // Where this data dir holds the auth callout's keys, sign in as the replay service account.
    const credentials = existsSync(this.config.authKeysFile)
      ? { seed: (await loadOrCreateAuthKeys(this.config.authKeysFile)).services.replay.getSeed(), inboxPrefix: serviceInboxPrefix("replay") }
      : undefined;
    this.nc = await connectNats(url, { name: "natter-replay", maxReconnectAttempts: 2, ...(credentials ? { credentials } : {}) });
    return this.nc;
  }

  /** The database: DATABASE_URL, the PostgreSQL a running natter uses, or the embedded PGlite when natter is stopped. */
  async db(): Promise<Database> {
    if (this.database) return this.database;
    const r = running(this.config.dataDir);
    const url = this.config.databaseUrl ?? r?.databaseUrl ?? undefined;
    if (url === undefined && r !== null) {
      throw new UsageError(
        `the embedded PGlite database is in use by natter (pid ${r.pid}); PGlite serves one process: stop natter first, or run natter on PostgreSQL (DATABASE_URL)`,
      );
    }
    this.database = await openDatabase({ url, pgliteDir: join(this.config.dataDir, "pglite") });
    return this.database;
  }

  /** What maintenance work needs, with the lease TTL and replicas the projectors are configured with. */
  maintenance(nc: NatsConnection, db?: Db): MaintenanceDeps {
    return { nc, db, leaseMs: this.config.projectionLeaseMs, replicas: this.config.streamReplicas };
  }

  async close(): Promise<void> {
    await this.nc?.close();
    await this.database?.close();
  }
}

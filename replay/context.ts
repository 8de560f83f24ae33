import { chmod, rename, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfig, type Config } from "../app/config.ts";
import { openDatabase, type Database, type Db, type MaintenanceDeps } from "../projections/index.ts";
import { loadOrCreateAuthKeys, serviceInboxPrefix } from "../auth/index.ts";
import { connectNats } from "../streams/index.ts";

/** Where a running natter on embedded PGlite takes the replay tool's database work, and the token it asks for. */
export type MaintenanceTarget = { pid: number; subject: string; token: string };

/** What `npm start` writes to its data dir (mode 0600: it holds the maintenance token) so that tools find the embedded servers. */
export type RuntimeFile = {
  pid: number;
  natsUrl: string;
  databaseUrl: string | null;
  pgliteDir: string | null;
  /** Present when natter runs on PGlite: the replay tool sends its database work there. */
  maintenance?: { subject: string; token: string } | null;
};

/** The runtime file's path in the data dir. */
export const runtimeFilePath = (dataDir: string): string => join(dataDir, "natter.runtime.json");

/** Writes the runtime file, readable by this user only, in one step (a reader never sees half of it). */
export async function writeRuntimeFile(dataDir: string, runtime: RuntimeFile): Promise<void> {
  const file = runtimeFilePath(dataDir);
  const next = `${file}.${process.pid}.tmp`;
  await writeFile(next, JSON.stringify(runtime), { mode: 0o600 });
  // A file left by an earlier run keeps its mode through writeFile.
  await chmod(next, 0o600);
  await rename(next, file);
}

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
  let r: RuntimeFile;
  try {
    r = JSON.parse(readFileSync(file, "utf8")) as RuntimeFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EACCES")
      throw new UsageError(`cannot read ${file}: run the tool as the user natter runs as`);
    return null;
  }
  try {
    process.kill(r.pid, 0);
  } catch (err) {
    // EPERM: the process exists, it is another user's.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  return r;
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
    if (url === undefined)
      throw new UsageError(
        `NATS_URL is not set and no natter is running with data dir ${this.config.dataDir}: set NATS_URL, or start natter (npm start)`,
      );
    // Where this data dir holds the auth callout's keys, sign in as the replay service account.
    const credentials = existsSync(this.config.authKeysFile)
      ? {
          seed: (await loadOrCreateAuthKeys(this.config.authKeysFile)).services.replay.getSeed(),
          inboxPrefix: serviceInboxPrefix("replay"),
        }
      : undefined;
    this.nc = await connectNats(url, {
      name: "natter-replay",
      maxReconnectAttempts: 2,
      ...(credentials ? { credentials } : {}),
    });
    return this.nc;
  }

  /**
   * The natter that holds this data dir's PGlite, when the database work must go to it: no
   * DATABASE_URL here, and a natter running on embedded PGlite. Null when the tool opens the
   * database itself.
   */
  embeddedTarget(): MaintenanceTarget | null {
    if (this.config.databaseUrl !== undefined) return null;
    const r = running(this.config.dataDir);
    if (r === null || r.databaseUrl !== null) return null;
    if (!r.maintenance) {
      throw new UsageError(
        `the embedded PGlite database is in use by natter (pid ${r.pid}), which takes no maintenance requests yet: try again once it says it is up (a natter older than this tool never does: restart it)`,
      );
    }
    return { pid: r.pid, ...r.maintenance };
  }

  /** The database: DATABASE_URL, the PostgreSQL a running natter uses, or the embedded PGlite when natter is stopped. */
  async db(): Promise<Db> {
    if (this.database) return this.database.db;
    const r = running(this.config.dataDir);
    const url = this.config.databaseUrl ?? r?.databaseUrl ?? undefined;
    if (url === undefined && r !== null) {
      // Opening it beside natter would be a second PostgreSQL on one data folder.
      throw new UsageError(`the embedded PGlite database is in use by natter (pid ${r.pid})`);
    }
    this.database = await openDatabase({ url, pgliteDir: join(this.config.dataDir, "pglite") });
    return this.database.db;
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

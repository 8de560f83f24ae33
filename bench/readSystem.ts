/**
 * The read side for the `read` suite, as it is deployed: a private nats-server with the auth
 * callout, and natter's parts each in a process of its own (`node --import tsx app/service.ts <part>`,
 * what `npm run service -- <part>` runs): auth, commands, projections, live and the read API, signed
 * in with their service keys; a Keycloak-shaped token issuer (test/tokenIssuer.ts, real RS256
 * tokens) and a fresh PostgreSQL database in the bench process. The parts run apart from the bench
 * client so that the client's timing does not share an event loop with what it measures.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import {
  loadOrCreateAuthKeys,
  NATS_MAX_PAYLOAD,
  natsAuthConfig,
  serviceInboxPrefix,
  type AuthKeys,
  type ServiceName,
} from "../auth/index.ts";
import { userIdFromSub } from "../domain/index.ts";
import { PROJECTIONS, readCheckpoint, timelineProjection, waitForApplied, type Db } from "../projections/index.ts";
import { connectNats, EventStore } from "../streams/index.ts";
import { freePort } from "../test/childProcess.ts";
import { startTestIssuer, type TestIssuer } from "../test/tokenIssuer.ts";
import {
  createTempDatabase,
  Phase,
  startChild,
  startTempNats,
  type Child,
  type TempDatabase,
  type TempNats,
} from "./lib.ts";

/** The parts of natter the suite runs, each in its child process. */
export const PARTS = ["auth", "commands", "projections", "live", "read-api"] as const;
export type PartName = (typeof PARTS)[number];

/** The service account each part signs in as (the auth callout signs in with its own key). */
const ACCOUNT: Record<Exclude<PartName, "auth">, ServiceName> = {
  commands: "commands",
  projections: "projections",
  live: "projections",
  "read-api": "gateway",
};

/** The log line each part prints once it serves (pino, LOG_LEVEL=info). */
const READY: Record<PartName, (line: Record<string, unknown>) => boolean> = {
  auth: (l) => l["msg"] === "auth callout ready",
  commands: (l) => l["msg"] === "command service ready",
  projections: (l) => l["msg"] === "projector active" && l["projection"] === timelineProjection.name,
  live: (l) => l["msg"] === "live fan-out active",
  "read-api": (l) => l["msg"] === "read API listening",
};

/** A pino line as an object; undefined for any other line. */
function logLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A signed-in user of the bench: its id and access token. */
export type BenchUser = { readonly name: string; readonly id: string; readonly token: string };

/** How the system is started. */
export type ReadSystemOptions = {
  /** A PostgreSQL URL allowed to create databases. */
  databaseUrl: string;
  /** Write V8 CPU profiles of the parts into this folder (`<dir>/<part>`), when set. */
  cpuProfDir?: string;
  /** The read API's NATTER_READ_CACHE_ENTRIES (its default when unset). */
  cacheEntries?: number;
};

/**
 * The running read side. `start()` brings everything up in order; `stop()` takes down whatever
 * was started, in reverse order, also after a failed or interrupted start.
 */
export class ReadSystem {
  nats!: TempNats;
  issuer!: TestIssuer;
  database!: TempDatabase;
  /** A pool on the read models (the baseline's and the checkpoints'), as large as the read API's. */
  pool!: pg.Pool;
  db!: Db;
  /** The bench's own connection, as the gateway service account (it may send commands as any user). */
  gateway!: NatsConnection;
  store!: EventStore;
  /** The read API's HTTP base, `http://127.0.0.1:<port>`. */
  baseUrl = "";
  readonly parts = new Map<PartName, Child>();
  private readonly stops: (() => Promise<unknown>)[] = [];

  /** The read API's PostgreSQL pool size (openDatabase's default), used for the baseline's pool too. */
  static readonly POOL_SIZE = 8;

  async start(o: ReadSystemOptions): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "natter-bench-read-"));
    this.stops.push(() => rm(dir, { recursive: true, force: true }));
    const keysFile = join(dir, "nats-keys.json");
    const keys = await loadOrCreateAuthKeys(keysFile);
    const seedFiles = await writeSeeds(dir, keys);

    this.nats = await startTempNats({ extraConfig: natsAuthConfig(keys), maxPayload: NATS_MAX_PAYLOAD });
    this.stops.push(() => this.nats.stop());
    this.issuer = await startTestIssuer();
    this.stops.push(() => this.issuer.close());
    this.database = await createTempDatabase(o.databaseUrl, "natter_bench_read");
    this.stops.push(() => this.database.drop());

    const env = (part: PartName, extra: Record<string, string> = {}): Record<string, string> => ({
      NATS_URL: this.nats.url,
      NATTER_DATA_DIR: dir,
      LOG_LEVEL: "info",
      ...(part === "auth" ? { NATTER_AUTH_KEYS_FILE: keysFile } : { NATS_NKEY_SEED_FILE: seedFiles[ACCOUNT[part]] }),
      ...extra,
    });
    const port = await freePort();
    const spawnPart = (part: PartName, extra: Record<string, string> = {}): Child => {
      const child = startChild(part, ["app/service.ts", part], env(part, extra), o.cpuProfDir);
      this.parts.set(part, child);
      this.stops.push(() => child.stop());
      return child;
    };
    const ready = (part: PartName) => this.parts.get(part)!.waitForLine((l) => READY[part](logLine(l) ?? {}), 60_000);

    // The callout first: every other part signs in through it.
    spawnPart("auth", { OIDC_ISSUER: this.issuer.issuer });
    await ready("auth");
    spawnPart("commands", { NATTER_RATE_LIMIT: "off" });
    spawnPart("projections", { DATABASE_URL: this.database.url });
    spawnPart("live");
    await Promise.all([ready("commands"), ready("projections"), ready("live")]);
    // The read API after the projections made their schemas.
    spawnPart("read-api", {
      DATABASE_URL: this.database.url,
      OIDC_ISSUER: this.issuer.issuer,
      PORT: String(port),
      NATTER_QUERY_RATE_LIMIT: "off",
      NATTER_HTTP_RATE_LIMIT: "off",
      ...(o.cacheEntries === undefined ? {} : { NATTER_READ_CACHE_ENTRIES: String(o.cacheEntries) }),
    });
    await ready("read-api");
    this.baseUrl = `http://127.0.0.1:${port}`;

    this.gateway = await connectNats(this.nats.url, {
      name: "natter-bench-read",
      credentials: { seed: keys.services.gateway.getSeed(), inboxPrefix: serviceInboxPrefix("gateway") },
    });
    this.stops.push(() => this.gateway.close());
    this.store = new EventStore(this.gateway);
    this.pool = new pg.Pool({ connectionString: this.database.url, max: ReadSystem.POOL_SIZE });
    this.pool.on("error", () => undefined);
    this.stops.push(() => this.pool.end());
    this.db = drizzle(this.pool) as unknown as Db;
  }

  /** The process ids of each part, nats-server, PostgreSQL's backends on the database and the bench: CpuGroups' groups. */
  cpuGroups(): Record<string, () => Promise<(number | undefined)[]>> {
    const groups: Record<string, () => Promise<(number | undefined)[]>> = {
      "nats-server": async () => [this.nats.process.pid],
    };
    for (const [name, child] of this.parts) groups[name] = async () => [child.pid];
    groups["postgres"] = async () =>
      (
        await this.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
      ).rows.map((r) => r.pid);
    groups["bench"] = async () => [process.pid];
    return groups;
  }

  /** Signs access tokens (RS256, an hour) for users called `<prefix><i>`, i < count. */
  async users(prefix: string, count: number): Promise<BenchUser[]> {
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const name = `${prefix}${i}`;
        return {
          name,
          id: userIdFromSub(this.issuer.subOf(name)),
          token: await this.issuer.token(name, ["user"], {}, { expiresInSec: 3600 }),
        };
      }),
    );
  }

  /** Runs `stop` first when the system stops (for what a phase starts on top of it: user connections). */
  defer(stop: () => Promise<unknown>): void {
    this.stops.push(stop);
  }

  /**
   * Waits (at most `timeoutMs`) until the PostgreSQL projections (rooms, timeline, audit) have applied
   * the log up to its end, showing the timeline's checkpoint as progress on stderr.
   */
  async caughtUp(timeoutMs = 300_000): Promise<number> {
    const target = await this.store.lastSeq();
    const pgProjections = [...PROJECTIONS.values()].filter((p) => p.kind === "pg");
    const checkpoint = (schema: string, name: string) => async () =>
      (await readCheckpoint(this.db, schema, name))?.seq ?? 0;
    const phase = new Phase("projections catching up (timeline checkpoint)", target, 2000, process.stderr);
    const progress = setInterval(
      () => void checkpoint(timelineProjection.liveSchema, timelineProjection.name)().then((s) => (phase.done = s)),
      500,
    );
    try {
      const reached = await Promise.all(
        pgProjections.map((p) =>
          waitForApplied(this.gateway, this.store, p, checkpoint(p.liveSchema, p.name), target, timeoutMs),
        ),
      );
      const behind = pgProjections.filter((_, i) => !reached[i]).map((p) => p.name);
      if (behind.length > 0)
        throw new Error(`projections ${behind.join(", ")} did not reach ${target} within ${timeoutMs / 1000} s`);
      phase.done = target;
    } finally {
      clearInterval(progress);
      phase.end();
    }
    return target;
  }

  /** Stops everything started, last first; reports but does not throw what fails. */
  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse())
      await stop().catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
}

/** Writes each service account's seed into `<dir>/seed-<name>` (NATS_NKEY_SEED_FILE of its parts). */
async function writeSeeds(dir: string, keys: AuthKeys): Promise<Record<ServiceName, string>> {
  const out = {} as Record<ServiceName, string>;
  for (const [name, kp] of Object.entries(keys.services) as [ServiceName, AuthKeys["services"][ServiceName]][]) {
    out[name] = join(dir, `seed-${name}`);
    await writeFile(out[name], new TextDecoder().decode(kp.getSeed()), { mode: 0o600 });
  }
  return out;
}

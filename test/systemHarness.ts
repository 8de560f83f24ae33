import { pino } from "pino";
import { Registry } from "prom-client";
import type { Database } from "../projections/db.ts";
import { startProjections, type ProjectionService, type ProjectionServiceOptions } from "../projections/service.ts";
import { readCheckpoint } from "../projections/pgStore.ts";
import { waitForApplied } from "../projections/readYourWrites.ts";
import { PROJECTIONS } from "../projections/catalog.ts";
import { startCommandHarness, type CommandHarness } from "./commandHarness.ts";
import { openTestDatabase } from "./database.ts";

/** A private nats-server, the command service, a fresh database and the projectors on it. */
export type SystemHarness = CommandHarness & {
  database: Database & { url: string | undefined };
  projections: ProjectionService;
  registry: Registry;
  /** Waits until every projection has applied the log up to `seq` (throws after `timeoutMs`). */
  caughtUp(seq?: number, timeoutMs?: number): Promise<void>;
  /** The last sequence of the log. */
  lastSeq(): Promise<number>;
};

/** Starts the write side and the projectors (on PGlite when `pglite`). */
export async function startSystem(
  options: { pglite?: boolean; projections?: Partial<ProjectionServiceOptions> } = {},
): Promise<SystemHarness> {
  const h = await startCommandHarness();
  const database = await openTestDatabase({ pglite: options.pglite });
  const registry = new Registry();
  const projections = await startProjections(h.nc, database.db, {
    log: pino({ level: "silent" }),
    registry,
    leaseMs: 2000,
    retryDelayMs: 20,
    ...options.projections,
  });
  const lastSeq = async () => (await h.allEvents()).at(-1)?.seq ?? 0;
  return {
    ...h,
    database,
    projections,
    registry,
    lastSeq,
    async caughtUp(seq, timeoutMs = 15_000) {
      const target = seq ?? (await lastSeq());
      for (const [name, projector] of projections.projectors) {
        const p = PROJECTIONS.get(name)!;
        const checkpoint = async () =>
          p.kind === "pg"
            ? ((await readCheckpoint(database.db, p.liveSchema, p.name))?.seq ?? 0)
            : await projector.storedCheckpoint();
        if (!(await waitForApplied(h.nc, h.store, p, checkpoint, target, timeoutMs)))
          throw new Error(`projection ${name} did not reach ${target} within ${timeoutMs} ms`);
      }
    },
    async stop() {
      await projections.stop();
      await h.stop();
      await database.close();
    },
  };
}

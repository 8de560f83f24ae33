import fc from "fast-check";
import { expect } from "vitest";
import { PROJECTIONS } from "../projections/catalog.ts";
import { rebuild, verifyKv, verifyPg, type Difference } from "../projections/maintenance.ts";
import { everyCommonTypeScript, runScript, scriptArbitrary, type ScriptOutcome } from "./randomCommands.ts";
import { snapshotReadModels } from "./readModelSnapshot.ts";
import type { SystemHarness } from "./systemHarness.ts";

/** What the property runs saw, to check afterwards that they exercised both sides. */
export type PropertyTally = { runs: number; ok: number; refused: Record<string, number>; types: Map<string, number> };

/**
 * The read-side property: after any script of valid and invalid commands, applied live while the
 * projectors run, (a) verify finds no difference in any projection, and (b) rebuilding every
 * projection from the log leaves every table (and KV bucket) exactly as it was, row for row.
 * All runs share one system: verify and rebuild cover the whole log, earlier runs included.
 */
export async function checkReadSideProperty(
  s: SystemHarness,
  options: { numRuns: number; minSteps: number; maxSteps: number; seed?: number },
): Promise<PropertyTally> {
  const tally: PropertyTally = { runs: 0, ok: 0, refused: {}, types: new Map() };
  const deps = { nc: s.nc, db: s.database.db };
  await fc.assert(
    fc.asyncProperty(scriptArbitrary(options.minSteps, options.maxSteps), async (script) => {
      const outcome: ScriptOutcome = await runScript(s.nc, script);
      tally.runs++;
      tally.ok += outcome.ok;
      for (const [code, n] of Object.entries(outcome.refused)) tally.refused[code] = (tally.refused[code] ?? 0) + n;
      await s.caughtUp(await s.lastSeq());

      for (const p of PROJECTIONS.values()) {
        const diffs: Difference[] = p.kind === "pg" ? await verifyPg(deps, p) : await verifyKv(deps, p);
        expect(diffs, `verify ${p.name} after ${JSON.stringify(outcome)}`).toEqual([]);
      }

      const before = await snapshotReadModels(s.nc, s.database.db);
      for (const p of PROJECTIONS.values()) await rebuild(deps, p);
      const after = await snapshotReadModels(s.nc, s.database.db);
      for (const table of Object.keys(before)) expect(after[table], `${table} after rebuild`).toEqual(before[table]);
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    }),
    // Shrinking would replay whole scripts against the shared system many times: report the first failure as it is.
    // The fixed script first: the random ones may, by chance, make no event of some type.
    {
      numRuns: options.numRuns,
      examples: [[everyCommonTypeScript()]],
      endOnFailure: true,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    },
  );
  for (const e of await s.allEvents()) tally.types.set(e.type, (tally.types.get(e.type) ?? 0) + 1);
  return tally;
}

/** The event types a property run must have produced for it to mean something. */
export const COMMON_EVENT_TYPES = [
  "RoomCreated",
  "MemberJoined",
  "MessagePosted",
  "MessageEdited",
  "MessageDeleted",
  "ReactionAdded",
  "UserProfileUpdated",
] as const;

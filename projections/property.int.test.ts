import { afterAll, beforeAll, expect, test } from "vitest";
import { mustSend } from "../test/commandClient.ts";
import { checkReadSideProperty, COMMON_EVENT_TYPES } from "../test/projectionProperty.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { PROJECTIONS } from "./catalog.ts";
import { verifyKv, verifyPg } from "./maintenance.ts";

let s: SystemHarness;
beforeAll(async () => {
  s = await startSystem();
});
afterAll(async () => {
  await s?.stop();
});

test("on PostgreSQL, any mix of valid and invalid commands leaves read models that verify clean and rebuild to the same rows", async () => {
  const tally = await checkReadSideProperty(s, { numRuns: 6, minSteps: 40, maxSteps: 80 });

  // The scripts exercised both sides: accepted commands of most kinds, and refusals.
  expect(tally.runs).toBe(6);
  expect(tally.ok).toBeGreaterThan(60);
  expect(Object.values(tally.refused).reduce((a, b) => a + b, 0)).toBeGreaterThan(60);
  expect(Object.keys(tally.refused)).toEqual(expect.arrayContaining(["invalid", "forbidden", "not_found"]));
  for (const type of COMMON_EVENT_TYPES) expect(tally.types.get(type) ?? 0, `${type} events`).toBeGreaterThan(0);
  expect(tally.types.size).toBeGreaterThanOrEqual(12);

  // The projectors went on after the last rebuild's swap.
  const roomId = (await mustSend(s.nc, "alice", "room.create", { name: "after", kind: "public" })).result[
    "roomId"
  ] as string;
  const last = await mustSend(s.nc, "alice", "msg.post", { roomId, body: "still applied" });
  await s.caughtUp(last.seq);
  const deps = { nc: s.nc, db: s.database.db };
  for (const p of PROJECTIONS.values())
    expect(p.kind === "pg" ? await verifyPg(deps, p) : await verifyKv(deps, p)).toEqual([]);
}, 120_000);

import { afterAll, beforeAll, expect, test } from "vitest";
import { checkReadSideProperty } from "../test/projectionProperty.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";

let s: SystemHarness;
beforeAll(async () => {
  s = await startSystem({ pglite: true });
});
afterAll(async () => {
  await s?.stop();
});

test("on PGlite, any mix of valid and invalid commands leaves read models that verify clean and rebuild to the same rows", async () => {
  expect(s.database.kind).toBe("pglite");
  const tally = await checkReadSideProperty(s, { numRuns: 4, minSteps: 40, maxSteps: 70 });
  expect(tally.runs).toBe(4);
  expect(tally.ok).toBeGreaterThan(30);
  expect(Object.values(tally.refused).reduce((a, b) => a + b, 0)).toBeGreaterThan(20);
  for (const type of ["RoomCreated", "MessagePosted"] as const)
    expect(tally.types.get(type) ?? 0, `${type} events`).toBeGreaterThan(0);
}, 120_000);

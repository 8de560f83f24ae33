import { pino } from "pino";
import { expect, test } from "vitest";
import { startCommandHarness } from "../test/commandHarness.ts";
import { openTestDatabase } from "../test/database.ts";
import { mustSend } from "../test/commandClient.ts";
import { startProjections } from "./service.ts";
import { readCheckpoint } from "./pgStore.ts";
import { waitForApplied } from "./readYourWrites.ts";
import { timelineProjection } from "./timeline/projection.ts";

test("backlog", async () => {
  const h = await startCommandHarness();
  const database = await openTestDatabase();
  const roomId = (await mustSend(h.nc, "alice", "room.create", { name: "g", kind: "public" })).result["roomId"] as string;
  let last = 0;
  for (let i = 0; i < 40; i++) {
    const rs = await Promise.all(Array.from({ length: 50 }, (_, j) => mustSend(h.nc, "alice", "msg.post", { roomId, body: `m${i}-${j}` })));
    last = Math.max(last, ...rs.map((r) => r.seq));
  }
  const t0 = Date.now();
  const ps = await startProjections(h.nc, database.db, { log: pino({ level: "silent" }), only: ["timeline"], leaseMs: 2000 });
  const ok = await waitForApplied(h.nc, h.store, timelineProjection, async () => (await readCheckpoint(database.db, "natter_timeline", "timeline"))?.seq ?? 0, last, 15000);
  console.log("caught up", ok, Date.now() - t0, "cp", (await readCheckpoint(database.db, "natter_timeline", "timeline"))?.seq, "last", last);
  await ps.stop();
  await h.stop();
  await database.close();
  expect(ok).toBe(true);
});

import { afterAll, beforeAll, expect, test } from "vitest";
import { PROJECTIONS } from "./catalog.ts";
import type { TsxChild } from "../test/childProcess.ts";
import { mustSend } from "../test/commandClient.ts";
import { startCommandHarness, type CommandHarness } from "../test/commandHarness.ts";
import { openTestDatabase } from "../test/database.ts";
import {
  activeIn,
  exactlyOnceFacts,
  logTail,
  projectorErrors,
  spawnProjectionService,
  startCommandLoad,
  verifyAll,
  waitAllApplied,
  waitActive,
} from "../test/projectionProcesses.ts";

/** The projectors' lease TTL: a restarted process waits this long for the dead one's lease. */
const LEASE_MS = 1500;
/** SIGKILLs, each followed by a restart. */
const KILLS = 7;
/** Client loops sending commands throughout. */
const USERS = ["ann", "ben", "cat", "dan"];

let h: CommandHarness;
let database: Awaited<ReturnType<typeof openTestDatabase>>;
const children: TsxChild[] = [];

beforeAll(async () => {
  h = await startCommandHarness();
  database = await openTestDatabase();
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  await h?.stop();
  await database?.close();
});

test("the projector process SIGKILLed at random moments under load: every event applied exactly once", async () => {
  const url = database.url;
  if (url === undefined)
    throw new Error("this test runs the projections as a child process: it needs a real PostgreSQL");
  const start = () => {
    const c = spawnProjectionService(h.server.url, url, LEASE_MS);
    children.push(c);
    return c;
  };

  const rooms: string[] = [];
  for (const name of ["one", "two", "three"]) {
    const roomId = (await mustSend(h.nc, "owner", "room.create", { name, kind: "public" })).result["roomId"] as string;
    for (const u of USERS) await mustSend(h.nc, u, "room.join", { roomId });
    rooms.push(roomId);
  }
  const load = startCommandLoad(h.nc, USERS, rooms);

  let child = start();
  const applying: number[] = [];
  try {
    for (let k = 0; k < KILLS; k++) {
      // Kill it mostly while it applies, sometimes while it starts (taking the lease, migrating,
      // recreating its consumers): the random moment is the chaos schedule, not a wait for something.
      if (k % 3 !== 2) await child.waitForLine((l) => l.includes('"projector active"'), 30_000);
      const before = load.answered();
      await new Promise((r) => setTimeout(r, Math.random() * 1200));
      applying.push(load.answered() - before);
      await child.stop("SIGKILL");
      expect(child.lines.filter((l) => l.includes('"stopping"'))).toEqual([]);
      expect(projectorErrors(child)).toEqual([]);
      child = start();
    }
    // The last one comes up once the last dead one's leases have expired, and catches up.
    await waitActive(child, undefined, 30_000);
  } finally {
    const sent = await load.stop();
    expect(sent.ok).toBeGreaterThan(200);
  }
  await waitAllApplied(h.nc, database.db, undefined, { describe: () => logTail(child) });
  expect(child.running()).toBe(true);

  const facts = await exactlyOnceFacts(h.nc, database.db);
  expect(facts.parked).toEqual([]);
  expect(facts.auditRows).toBe(facts.streamSeqs.length);
  expect(facts.auditSeqs).toEqual(facts.streamSeqs);
  expect(facts.messageIds).toEqual(facts.postedIds);
  expect(await verifyAll(h.nc, database.db, LEASE_MS)).toEqual([]);
  // The child yielded to verify and took its leases back; nothing went wrong in it.
  expect(projectorErrors(child)).toEqual([]);
  expect(activeIn(child).size).toBe(PROJECTIONS.size);
  // Most kills hit a process that was applying under load (commands were answered meanwhile).
  expect(applying.filter((n) => n > 0).length).toBeGreaterThanOrEqual(KILLS / 2);
}, 180_000);

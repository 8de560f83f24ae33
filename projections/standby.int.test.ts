import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, test } from "vitest";
import { EventStore } from "../streams/index.ts";
import { logLine, type TsxChild } from "../test/childProcess.ts";
import { mustSend } from "../test/commandClient.ts";
import { startCommandHarness, type CommandHarness } from "../test/commandHarness.ts";
import { openTestDatabase } from "../test/database.ts";
import {
  activeIn,
  checkpointOf,
  exactlyOnceFacts,
  isLog,
  lastSeq,
  logTail,
  PROJECTION_NAMES,
  projectorErrors,
  spawnProjectionService,
  startCommandLoad,
  verifyAll,
  waitAllApplied,
  waitActive,
} from "../test/projectionProcesses.ts";
import { query } from "./db.ts";
import { Lease, openLockBucket } from "./lock.ts";
import { leaseKey } from "./names.ts";

/** The projectors' lease TTL. */
const LEASE_MS = 1500;
/** How long a standby may take to replace a dead active one: the TTL, a standby poll (500 ms), and a start. */
const TAKEOVER_MS = LEASE_MS + 500 + 3000;

let h: CommandHarness;
let database: Awaited<ReturnType<typeof openTestDatabase>>;
const children: TsxChild[] = [];
const rooms: string[] = [];

beforeAll(async () => {
  h = await startCommandHarness();
  database = await openTestDatabase();
  for (const name of ["left", "right"]) {
    const roomId = (await mustSend(h.nc, "owner", "room.create", { name, kind: "public" })).result["roomId"] as string;
    for (const u of ["ann", "ben", "cat"]) await mustSend(h.nc, u, "room.join", { roomId });
    rooms.push(roomId);
  }
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  await h?.stop();
  await database?.close();
});

/** The projector processes' last warnings and errors, for failure messages. */
const describe = () =>
  children
    .filter((c) => c.running())
    .map((c) => logTail(c))
    .join("\n");

/** A projector process (`npm run service -- projections`) against the test's NATS and database. */
function start(): TsxChild {
  const url = database.url;
  if (url === undefined)
    throw new Error("this test runs the projections as child processes: it needs a real PostgreSQL");
  const c = spawnProjectionService(h.server.url, url, LEASE_MS);
  children.push(c);
  return c;
}

/** The exactly-once checks: audit rows against the log, messages at their log positions, no parked event, verify clean. */
async function expectAppliedOnceInOrder(): Promise<void> {
  const facts = await exactlyOnceFacts(h.nc, database.db);
  expect(facts.parked).toEqual([]);
  expect(facts.auditRows).toBe(facts.streamSeqs.length);
  expect(facts.auditSeqs).toEqual(facts.streamSeqs);
  expect(facts.messageIds).toEqual(facts.postedIds);
  // Order: every message sits at the sequence of its MessagePosted in the log.
  const posted = (await new EventStore(h.nc).readSubject("ev.msg.>")).flatMap((e) =>
    e.event.type === "MessagePosted" ? [`${e.event.data.messageId}@${e.seq}`] : [],
  );
  const rows = await query<{ message_id: string; seq: string }>(
    database.db,
    sql`SELECT message_id, seq FROM natter_timeline.messages ORDER BY seq`,
  );
  expect(rows.map((r) => `${r.message_id}@${r.seq}`)).toEqual(posted);
  expect(await verifyAll(h.nc, database.db, LEASE_MS)).toEqual([]);
}

test("two projector processes: one active per projection, the other takes over when it is SIGKILLed, in order and once", async () => {
  const a = start();
  await waitActive(a);
  const b = start();
  const standing = await Promise.all(
    PROJECTION_NAMES.map((n) => b.waitForLine((l) => isLog(l, "projector standing by", n))),
  );
  // B knows who holds each lease: A.
  for (const line of standing) expect(String(logLine(line)!["holder"])).toMatch(new RegExp(`^${a.process.pid}-`));

  const load = startCommandLoad(h.nc, ["ann", "ben", "cat"], rooms);
  try {
    // A applies the load while B waits.
    await waitAllApplied(h.nc, database.db, await lastSeq(h.nc), { describe });
    expect(activeIn(b)).toEqual(new Set());

    await a.stop("SIGKILL");
    const killedAt = Date.now();
    // Where A left off (a commit A sent just before it died may still land: at most one more batch).
    const left = Object.fromEntries(
      await Promise.all(PROJECTION_NAMES.map(async (n) => [n, await checkpointOf(h.nc, database.db, n)()] as const)),
    );
    const took = await Promise.all(
      PROJECTION_NAMES.map(async (n) => {
        const line = await b.waitForLine((l) => isLog(l, "projector active", n), TAKEOVER_MS + 5000);
        return { projection: n, ms: Date.now() - killedAt, from: Number(logLine(line)!["from"]) };
      }),
    );
    for (const t of took) {
      expect(t.ms, `${t.projection} taken over after ${t.ms} ms`).toBeLessThan(TAKEOVER_MS);
      // B goes on from the checkpoint A committed, not from the start (the checks below find any gap or double).
      expect(t.from, t.projection).toBeGreaterThan(left[t.projection]!);
    }
    // B applies what comes after the takeover.
    const after = await mustSend(h.nc, "owner", "msg.post", { roomId: rooms[0], body: "after the takeover" });
    await waitAllApplied(h.nc, database.db, after.seq, { describe });
  } finally {
    await load.stop();
  }
  await waitAllApplied(h.nc, database.db, undefined, { describe });
  expect(projectorErrors(b)).toEqual([]);
  await expectAppliedOnceInOrder();
}, 120_000);

test("an active process paused past its lease and then resumed writes nothing stale: nothing lost, nothing twice", async () => {
  // Only the two processes of this test.
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  const first = start();
  await waitActive(first);
  const pair = [first, start()];
  const locks = await openLockBucket(h.nc, LEASE_MS);
  /** The pid holding each projection's lease. */
  const holders = async () =>
    Promise.all(PROJECTION_NAMES.map(async (n) => Number((await Lease.holder(locks, leaseKey(n)))?.split("-")[0])));
  /** Polls the leases until `done` says so; nothing announces a lease change to the test, so poll with a deadline. */
  const waitLeases = async (what: string, done: (pids: number[]) => boolean) => {
    const deadline = Date.now() + TAKEOVER_MS + 10_000;
    for (let now = await holders(); !done(now); now = await holders()) {
      if (Date.now() > deadline) {
        const lines = pair.map(
          (c) =>
            `pid ${c.process.pid}:\n${c.lines
              .slice(-12)
              .map((l) => l.slice(0, 300))
              .join("\n")}`,
        );
        throw new Error(`${what}: leases held by ${now.join(", ")}\n${lines.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await waitLeases("the first process takes every lease", (pids) => pids.every((x) => x === pair[0]!.process.pid));
  await Promise.all(PROJECTION_NAMES.map((n) => pair[1]!.waitForLine((l) => isLog(l, "projector standing by", n))));

  const load = startCommandLoad(h.nc, ["ann", "ben", "cat"], rooms);
  try {
    for (let k = 0; k < 4; k++) {
      const [paused, other] = k % 2 === 0 ? [pair[0]!, pair[1]!] : [pair[1]!, pair[0]!];
      // Frozen in the middle of its work (a long GC pause, a stalled VM): its leases run out and
      // the other takes over. Resumed, it finishes the batch it had begun, and its client pulls again.
      paused.process.kill("SIGSTOP");
      try {
        // Its leases expire and the other takes them. Where the paused one was in the middle of
        // a batch, it holds the projection's database lock: PostgreSQL ends its idle transaction
        // after the lease's time, so the other applies new events while it is still frozen.
        await waitLeases(
          `the other takes over from paused pid ${paused.process.pid}`,
          (pids) => !pids.includes(paused.process.pid!) && pids.includes(other.process.pid!),
        );
        const probe = await mustSend(h.nc, "owner", "msg.post", {
          roomId: rooms[0],
          body: `while pid ${paused.process.pid} is frozen`,
        });
        await waitAllApplied(h.nc, database.db, probe.seq, { describe, maxMs: 20_000 });
      } finally {
        paused.process.kill("SIGCONT");
      }
    }
  } finally {
    await load.stop();
  }
  await waitAllApplied(h.nc, database.db, undefined, { describe });
  for (const c of pair) {
    expect(c.running()).toBe(true);
    expect(projectorErrors(c)).toEqual([]);
  }
  await expectAppliedOnceInOrder();
}, 120_000);

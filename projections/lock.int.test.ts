import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, ensureBuckets, ensureEventStream } from "../streams/index.ts";
import { startTestNats } from "../test/nats.ts";
import { Lease, openLockBucket } from "./lock.ts";
import { LOCK_BUCKET } from "./names.ts";
import { membersProjection } from "./members/projection.ts";
import { Projector } from "./projector.ts";

let server: Awaited<ReturnType<typeof startTestNats>>;
let nc: NatsConnection;
beforeAll(async () => {
  server = await startTestNats();
  nc = await connectNats(server.url);
});
afterAll(async () => {
  await nc.close();
  await server.stop();
});

/** A logger whose lines the test reads. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "warn" },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  return { log, lines };
}

test("a projector that cannot open the lease bucket at start tries again, and runs once it can", async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${LOCK_BUCKET}`).catch(() => false);
  // A stream that takes the bucket's subjects: making the bucket fails until it is gone.
  await jsm.streams.add({ name: "BLOCKS_LOCKS", subjects: [`$KV.${LOCK_BUCKET}.>`] });
  await ensureEventStream(nc);
  const b = await ensureBuckets(nc);
  const { log, lines } = recordingLog();
  const projector = new Projector(nc, membersProjection, {
    log,
    buckets: { members: b.members, user_rooms: b.user_rooms },
    leaseMs: 1000,
  });
  projector.start();
  try {
    const until = async (what: string, done: () => boolean) => {
      for (const started = Date.now(); !done(); await new Promise((r) => setTimeout(r, 50))) {
        if (Date.now() - started > 10_000) throw new Error(`${what} within 10 s: ${JSON.stringify(lines)}`);
      }
    };
    await until(
      "no failed attempt logged",
      () => lines.filter((l) => String(l["msg"]).startsWith("cannot open the lease bucket")).length >= 2,
    );
    expect(projector.status).toBe("starting");
    await jsm.streams.delete("BLOCKS_LOCKS");
    await until("not active", () => projector.status === "active");
  } finally {
    await projector.stop();
  }
  expect(lines.filter((l) => (l["level"] as number) >= 50)).toEqual([]);
});

/** Stops a lease's renewals as a SIGKILL would (release() would delete the key instead). */
function kill(lease: Lease): void {
  clearInterval((lease as unknown as { timer: NodeJS.Timeout }).timer);
}

test("a part that holds leases raises the lock bucket's TTL to its configured lease and says so; it never lowers it, nor does the replay CLI change it", async () => {
  await (await jetstreamManager(nc)).streams.delete(`KV_${LOCK_BUCKET}`).catch(() => false);
  const first = recordingLog();
  expect(await (await openLockBucket(nc, 1000, { log: first.log })).status().then((s) => s.ttl)).toBe(1000);
  expect(first.lines).toEqual([]);

  // The CLI (no log) opens with another value: the running parts' TTL stays.
  expect(await (await openLockBucket(nc, 5000)).status().then((s) => s.ttl)).toBe(1000);

  // A holder renewing on the 1,000 ms TTL.
  const kv = await openLockBucket(nc, 1000, { log: first.log });
  const holder = new Lease(kv, "projection.raise-test", "holder", 1000);
  expect(await holder.tryAcquire()).toBe(true);

  // Parts restarted with NATTER_PROJECTION_LEASE_MS=3000, two at once: one raise, one line.
  const [a, b] = [recordingLog(), recordingLog()];
  await Promise.all([openLockBucket(nc, 3000, { log: a.log }), openLockBucket(nc, 3000, { log: b.log })]);
  expect((await kv.status()).ttl).toBe(3000);
  expect([...a.lines, ...b.lines]).toEqual([expect.objectContaining({ level: 40, fromMs: 1000, toMs: 3000 })]);

  // The holder keeps its lease through the change.
  await new Promise((r) => setTimeout(r, 1500));
  expect(holder.lost).toBe(false);
  expect(await holder.held()).toBe(true);
  await holder.release();

  // A shorter value is not applied: a running holder may renew on the longer one. The log says how.
  const shorter = recordingLog();
  await openLockBucket(nc, 500, { log: shorter.log });
  expect((await kv.status()).ttl).toBe(3000);
  expect(shorter.lines).toEqual([
    expect.objectContaining({
      level: 40,
      ttlMs: 3000,
      configuredMs: 500,
      msg: expect.stringContaining("delete the KV bucket natter_locks"),
    }),
  ]);

  // A holder that dies without giving the lease up loses it after the bucket's TTL (3 s), not the 1 s it had.
  const dead = new Lease(kv, "projection.ttl-test", "dead", 3000);
  expect(await dead.tryAcquire()).toBe(true);
  const diedAt = Date.now();
  kill(dead);
  const standby = new Lease(kv, "projection.ttl-test", "standby", 3000);
  while (!(await standby.tryAcquire())) {
    expect(Date.now() - diedAt, "the standby waited past the TTL").toBeLessThan(8000);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(Date.now() - diedAt, "the standby took a lease younger than the TTL").toBeGreaterThanOrEqual(2500);
  await standby.release();
}, 30_000);

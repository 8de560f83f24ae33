import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { connectNats } from "../streams/index.ts";
import { startTestNats } from "../test/nats.ts";
import { Lease, openLockBucket } from "./lock.ts";

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
  const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines };
}

test("a part that holds leases brings an existing lock bucket's TTL to its configured lease, and says so; the replay CLI's open changes nothing", async () => {
  const first = recordingLog();
  expect(await (await openLockBucket(nc, 5000, { log: first.log })).status().then((s) => s.ttl)).toBe(5000);
  expect(first.lines).toEqual([]);

  // The CLI (no log) opens with another value: the running parts' TTL stays.
  expect(await (await openLockBucket(nc, 2000)).status().then((s) => s.ttl)).toBe(5000);

  // A projector restarted with NATTER_PROJECTION_LEASE_MS=1000.
  const second = recordingLog();
  const kv = await openLockBucket(nc, 1000, { log: second.log });
  expect((await kv.status()).ttl).toBe(1000);
  expect(second.lines).toEqual([expect.objectContaining({ level: 40, fromMs: 5000, toMs: 1000 })]);

  // A holder that dies without giving the lease up loses it after the new TTL, not the old one.
  const dead = new Lease(kv, "projection.ttl-test", "dead", 1000);
  expect(await dead.tryAcquire()).toBe(true);
  // Stop its renewals as a SIGKILL would (release() would delete the key instead).
  (dead as unknown as { timer: NodeJS.Timeout }).timer.unref();
  clearInterval((dead as unknown as { timer: NodeJS.Timeout }).timer);
  const standby = new Lease(kv, "projection.ttl-test", "standby", 1000);
  const started = Date.now();
  while (!(await standby.tryAcquire())) {
    expect(Date.now() - started, "the standby waited past the old TTL").toBeLessThan(4000);
    await new Promise((r) => setTimeout(r, 100));
  }
  await standby.release();
});

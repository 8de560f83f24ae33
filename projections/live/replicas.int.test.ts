import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestCluster, type TestCluster } from "../../test/cluster.ts";
import { replayCli } from "../../test/replayCli.ts";
import { startLive } from "./live.ts";

// NATTER_STREAM_REPLICAS reaches the buckets natter makes where they are missing, whichever part
// comes first: here the live part, on a three-node cluster.

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

/** The replicas of `stream`, waiting (up to 10 s) until some part has made it. */
async function replicasOf(nc: TestCluster["ncs"][number], stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  for (let i = 0; i < 100; i++) {
    const info = await jsm.streams.info(stream).catch(() => null);
    if (info !== null) return info.config.num_replicas;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${stream} was never made`);
}

test("the live part, started first, makes the lease and checkpoint buckets with the configured replicas", async () => {
  const [a, b] = cluster.ncs;
  const live = await startLive(b!, { log: pino({ level: "silent" }), leaseMs: 2000, replicas: 3, typing: false });
  try {
    expect(await replicasOf(a!, "KV_natter_locks")).toBe(3);
    // Made once the fan-out is active and records where it got.
    expect(await replicasOf(a!, "KV_natter_checkpoints")).toBe(3);
  } finally {
    await live.stop();
  }
}, 30_000);

test("the replay CLI, first to touch them, makes the lease, checkpoint and membership buckets with NATTER_STREAM_REPLICAS", async () => {
  const [a] = cluster.ncs;
  const jsm = await jetstreamManager(a!);
  // As on a new cluster where an operator verifies before any service has run (the live part of the test above made some).
  for (const stream of ["KV_natter_locks", "KV_natter_checkpoints", "KV_members", "KV_user_rooms"])
    await jsm.streams.delete(stream).catch(() => false);
  const cli = await replayCli(cluster.urls[0]!, undefined, { NATTER_STREAM_REPLICAS: "3" });
  try {
    const r = await cli.run(["verify", "members", "--no-progress"]);
    expect(r.code, r.stderr).toBe(0);
    for (const stream of ["KV_natter_locks", "KV_natter_checkpoints", "KV_members", "KV_user_rooms"])
      expect(await replicasOf(a!, stream), stream).toBe(3);
  } finally {
    await cli.close();
  }
}, 60_000);

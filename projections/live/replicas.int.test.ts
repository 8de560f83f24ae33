import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestCluster, type TestCluster } from "../../test/cluster.ts";
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

test("the live part, started first, makes the lease and checkpoint buckets with the configured replicas", async () => {
  const [a, b] = cluster.ncs;
  const live = await startLive(b!, { log: pino({ level: "silent" }), leaseMs: 2000, replicas: 3, typing: false });
  try {
    const jsm = await jetstreamManager(a!);
    const replicasOf = async (stream: string) => {
      for (let i = 0; i < 100; i++) {
        const info = await jsm.streams.info(stream).catch(() => null);
        if (info !== null) return info.config.num_replicas;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${stream} was never made`);
    };
    expect(await replicasOf("KV_natter_locks")).toBe(3);
    // Made once the fan-out is active and records where it got.
    expect(await replicasOf("KV_natter_checkpoints")).toBe(3);
  } finally {
    await live.stop();
  }
}, 30_000);

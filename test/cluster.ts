import { createServer } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../streams/connect.ts";
import { ensureEventStream } from "../streams/setup.ts";
import { startTestNats } from "./nats.ts";

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** A three-node nats-server cluster with CHAT_EVENTS at three replicas, and a connection to two of its nodes. */
export type TestCluster = { ncs: NatsConnection[]; urls: string[]; stop(): Promise<void> };

/** Starts the cluster (each node a private server on free ports) and waits until it takes a replicated stream. */
export async function startTestCluster(): Promise<TestCluster> {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const routes = ports.map((p) => `"nats://127.0.0.1:${p}"`).join(", ");
  const servers = await Promise.all(
    ports.map((p, i) =>
      startTestNats({
        extraConfig: `server_name: n${i}\ncluster { name: natter, listen: "127.0.0.1:${p}", routes: [ ${routes} ] }`,
        startTimeoutSec: 30,
      }),
    ),
  );
  const ncs = await Promise.all(servers.slice(0, 2).map((s) => connectNats(s.url)));
  // The cluster elects its meta leader a moment after the servers listen.
  for (let i = 0; ; i++) {
    try {
      await ensureEventStream(ncs[0]!, { replicas: 3 });
      break;
    } catch (err) {
      if (i >= 60) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return {
    ncs,
    urls: servers.map((s) => s.url),
    async stop() {
      await Promise.all(ncs.map((nc) => nc.close()));
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { startNatsServer, type NatsServer, type NatsServerOptions } from "../streams/natsServer.ts";

/**
 * Starts a private nats-server (2.12+, JetStream, a free port, its own store folder) for one test
 * file. Call `stop()` in afterAll: it stops the server and removes the folder.
 */
export async function startTestNats(options: Partial<NatsServerOptions> = {}): Promise<NatsServer & { dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "natter-nats-"));
  const server = await startNatsServer({ binary: inject("natsServerBinary"), dir, ...options });
  return {
    ...server,
    dir,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

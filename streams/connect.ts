import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { isSupportedNatsVersion, unsupportedVersionMessage } from "./natsServer.ts";

/**
 * Connects to NATS for a natter part and refuses a server older than 2.12 with a message that
 * says why. Async stack traces are off (they cost about a third of the client's CPU).
 */
export async function connectNats(url: string, options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: url.split(",").map((s) => s.trim()),
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    ...options,
  });
  const version = nc.info?.version ?? "unknown";
  if (!isSupportedNatsVersion(version)) {
    await nc.close();
    throw new Error(unsupportedVersionMessage(version));
  }
  return nc;
}

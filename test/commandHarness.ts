import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { startCommandService, type CommandService, type CommandServiceOptions } from "../commands/index.ts";
import { connectNats, EventStore, EVENT_STREAM, type EventEnvelope } from "../streams/index.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { startTestNats } from "./nats.ts";

/** A private nats-server with the command service running in this process. */
export type CommandHarness = {
  server: Awaited<ReturnType<typeof startTestNats>>;
  nc: NatsConnection;
  service: CommandService;
  store: EventStore;
  /** Every event in the log, in order. */
  allEvents(): Promise<EventEnvelope[]>;
  /** The number of messages in the event stream. */
  eventCount(): Promise<number>;
  stop(): Promise<void>;
};

/** A command-service instance on a connection of its own, as another process would run it. */
export type CommandInstance = { nc: NatsConnection; service: CommandService; stop(): Promise<void> };

/**
 * Starts one more command-service instance on its own connection to `url` (rate limiting off
 * unless given): it joins the queue group beside the others, with an empty cache of its own.
 * `stop()` drains it and closes its connection.
 */
export async function startCommandInstance(
  url: string,
  options: Partial<CommandServiceOptions> = {},
): Promise<CommandInstance> {
  const nc = await connectNats(url);
  const service = await startCommandService(nc, { log: pino({ level: "silent" }), rateLimit: "off", ...options });
  return {
    nc,
    service,
    async stop() {
      await service.drain();
      await nc.close();
    },
  };
}

/** A private server with command-service instances sharing the queue group, and client connections. */
export type CommandFleet = {
  server: Awaited<ReturnType<typeof startTestNats>>;
  instances: CommandInstance[];
  clients: NatsConnection[];
  /** A store on the first client connection, to read the log. */
  store: EventStore;
  stop(): Promise<void>;
};

/**
 * Starts a private server, `instances` command-service instances on it (each on its own
 * connection, as separate processes would be) and `clients` client connections.
 */
export async function startCommandFleet(
  counts: { instances: number; clients: number },
  options: Partial<CommandServiceOptions> = {},
): Promise<CommandFleet> {
  const server = await startTestNats();
  const instances: CommandInstance[] = [];
  // The first instance creates the stream and buckets; the others find them.
  for (let i = 0; i < counts.instances; i++) instances.push(await startCommandInstance(server.url, options));
  const clients = await Promise.all(Array.from({ length: counts.clients }, () => connectNats(server.url)));
  return {
    server,
    instances,
    clients,
    store: new EventStore(clients[0]!),
    async stop() {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(instances.map((i) => i.stop()));
      await server.stop();
    },
  };
}

/** Starts a private server and a command service on it (rate limiting off unless given). */
export async function startCommandHarness(options: Partial<CommandServiceOptions> = {}): Promise<CommandHarness> {
  const server = await startTestNats();
  const nc = await connectNats(server.url);
  const service = await startCommandService(nc, { log: pino({ level: "silent" }), rateLimit: "off", ...options });
  const store = new EventStore(nc);
  return {
    server,
    nc,
    service,
    store,
    allEvents: () => store.readSubject("ev.>"),
    eventCount: async () => (await (await jetstreamManager(nc)).streams.info(EVENT_STREAM)).state.messages,
    async stop() {
      await service.drain();
      await nc.close();
      await server.stop();
    },
  };
}

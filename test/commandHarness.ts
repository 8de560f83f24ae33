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

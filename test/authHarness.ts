import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { Registry } from "prom-client";
import { startAuthCallout, type AuthCallout, type TokenCheck } from "../auth/callout.ts";
import { identityNames, type IdentityNames } from "../auth/identityNames.ts";
import { createAuthKeys, type AuthKeys, type ServiceName } from "../auth/keys.ts";
import { NATS_MAX_PAYLOAD, natsAuthConfig } from "../auth/natsConfig.ts";
import { serviceInboxPrefix, userInboxPrefix } from "../auth/permissions.ts";
import { startCommandService, type CommandService } from "../commands/index.ts";
import { connectNats } from "../streams/index.ts";
import { startTestNats } from "./nats.ts";

/** A private nats-server with the auth callout on, natter's callout service, and the command service signed in as its service account. */
export type AuthSystem = {
  server: Awaited<ReturnType<typeof startTestNats>>;
  keys: AuthKeys;
  callout: AuthCallout;
  registry: Registry;
  commands: CommandService | undefined;
  /** Where the callout records the names tokens give. */
  identityNames: IdentityNames;
  /** Connects as a natter service account. */
  service(name: ServiceName): Promise<NatsConnection>;
  /** Connects as a user with an access token, using the user's private inbox prefix. */
  user(token: string, userId: string, options?: { ws?: boolean }): Promise<NatsConnection>;
  stop(): Promise<void>;
};

/** Starts the auth system; `verify` is the real token verifier under test. */
export async function startAuthSystem(options: {
  verify: TokenCheck;
  commands?: boolean;
  log?: Logger;
  maxConcurrent?: number;
  timeoutMs?: number;
  wsAllowedOrigins?: readonly string[];
}): Promise<AuthSystem> {
  const keys = createAuthKeys();
  const server = await startTestNats({
    extraConfig: natsAuthConfig(keys),
    wsPort: 0,
    maxPayload: NATS_MAX_PAYLOAD,
    ...(options.wsAllowedOrigins ? { wsAllowedOrigins: options.wsAllowedOrigins } : {}),
  });
  const log = options.log ?? pino({ level: "silent" });
  const calloutNc = await connectNats(server.url, {
    credentials: { seed: keys.callout.getSeed(), inboxPrefix: "_INBOX_callout" },
  });
  const registry = new Registry();
  const opened: NatsConnection[] = [calloutNc];
  const service = async (name: ServiceName) => {
    const nc = await connectNats(server.url, {
      credentials: { seed: keys.services[name].getSeed(), inboxPrefix: serviceInboxPrefix(name) },
    });
    opened.push(nc);
    return nc;
  };
  const names = identityNames(() => service("identity"), { log });
  const callout = await startAuthCallout(calloutNc, {
    keys,
    verify: options.verify,
    log,
    registry,
    maxConcurrent: options.maxConcurrent,
    timeoutMs: options.timeoutMs,
    identityNames: names,
  });
  let commands: CommandService | undefined;
  if (options.commands !== false)
    commands = await startCommandService(await service("commands"), { log, rateLimit: "off" });
  return {
    server,
    keys,
    callout,
    registry,
    commands,
    identityNames: names,
    service,
    async user(token, userId, o = {}) {
      const servers = o.ws ? `ws://127.0.0.1:${server.wsPort}` : server.url;
      if (o.ws) {
        // Node 20 has no global WebSocket; the browser's is what nats-core's wsconnect expects.
        const { WebSocket } = await import("ws");
        (globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;
        const { wsconnect } = await import("@nats-io/nats-core");
        const nc = await wsconnect({
          servers,
          token,
          inboxPrefix: userInboxPrefix(userId),
          maxReconnectAttempts: 0,
          noAsyncTraces: true,
        });
        opened.push(nc);
        return nc;
      }
      const nc = await connect({
        servers,
        token,
        inboxPrefix: userInboxPrefix(userId),
        maxReconnectAttempts: 0,
        noAsyncTraces: true,
      });
      opened.push(nc);
      return nc;
    },
    async stop() {
      await commands?.drain();
      await callout.drain();
      await Promise.all(opened.map((nc) => (nc.isClosed() ? undefined : nc.close())));
      await server.stop();
    },
  };
}

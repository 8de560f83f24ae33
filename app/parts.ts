/**
 * One start function per part of natter, each taking the connection it runs on, the configuration
 * and what the process shares (metrics, token checks). `npm start` (main.ts) and `npm run service
 * -- <part>` (service.ts) both start parts only through these, so a part's options are written once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import {
  startAuthCallout,
  type AuthCallout,
  type AuthKeys,
  type IdentityNames,
  type TokenVerifier,
} from "../auth/index.ts";
import { startCommandService, type CommandService } from "../commands/index.ts";
import { startLive, startPresence, startProjections, type Db, type ProjectionService } from "../projections/index.ts";
import { startReadApi, type ReadApi } from "../read-api/index.ts";
import { EventStore } from "../streams/index.ts";
import type { Config } from "./config.ts";
import { createLogger } from "./process.ts";

/** What every part is started with. */
export type PartContext = {
  readonly config: Config;
  /** Where the part's metrics go (the process's `/metrics`). */
  readonly registry?: Registry;
};

const logFor = (ctx: PartContext, name: string): Logger => createLogger(ctx.config, name);

/** The command service: `cmd.>` and `admincmd.>` in the queue group `commands`. */
export function startCommandsPart(nc: NatsConnection, ctx: PartContext): Promise<CommandService> {
  const { config } = ctx;
  return startCommandService(nc, {
    log: logFor(ctx, "commands"),
    rateLimit: config.rateLimit,
    stream: { replicas: config.streamReplicas },
  });
}

/** The projectors (PostgreSQL read models and KV shards) on `db`: one active per projection, others stand by. */
export function startProjectionsPart(nc: NatsConnection, db: Db, ctx: PartContext): Promise<ProjectionService> {
  const { config } = ctx;
  return startProjections(nc, db, {
    log: logFor(ctx, "projections"),
    ...(ctx.registry ? { registry: ctx.registry } : {}),
    stream: { replicas: config.streamReplicas },
    leaseMs: config.projectionLeaseMs,
  });
}

/** Live delivery (the fan-out, typing) with presence: one active instance, others stand by. */
export function startLivePart(nc: NatsConnection, ctx: PartContext): ReturnType<typeof startLive> {
  const { config } = ctx;
  const registry = ctx.registry ? { registry: ctx.registry } : {};
  return startLive(nc, {
    log: logFor(ctx, "live"),
    ...registry,
    leaseMs: config.projectionLeaseMs,
    replicas: config.streamReplicas,
    tasks: [
      (l) =>
        startPresence(nc, {
          publishToRoom: l.publishToRoom,
          log: logFor(ctx, "presence"),
          ...registry,
          heartbeatMs: config.presenceHeartbeatMs,
          timeoutMs: config.presenceTimeoutMs,
          maxConnectionsPerUser: config.presenceMaxConnections,
          replicas: config.streamReplicas,
          leaseMs: config.projectionLeaseMs,
        }),
    ],
  });
}

/** The read API over NATS (`q.<uid>.<query>`) and, through its `handle`, HTTP; reads `db`. */
export function startReadApiPart(
  nc: NatsConnection,
  db: Db,
  ctx: PartContext & { verifier: TokenVerifier; identityNames?: IdentityNames | undefined },
): Promise<ReadApi> {
  const { config } = ctx;
  return startReadApi(nc, db, new EventStore(nc), {
    log: logFor(ctx, "read-api"),
    ...(ctx.registry ? { registry: ctx.registry } : {}),
    verifier: ctx.verifier,
    ...(ctx.identityNames ? { identityNames: ctx.identityNames } : {}),
    queryRateLimit: config.queryRateLimit,
    httpRateLimit: config.httpRateLimit,
    presenceTimeoutMs: config.presenceTimeoutMs,
    replicas: config.streamReplicas,
    cacheEntries: config.readCacheEntries,
    cacheBytes: config.readCacheMb * 1024 * 1024,
    trustedProxies: config.trustedProxies,
  });
}

/** The NATS auth callout: checks tokens with `verifier` and service keys with `keys`, and records the names tokens give. */
export function startAuthPart(
  nc: NatsConnection,
  ctx: PartContext & { keys: AuthKeys; verifier: TokenVerifier; identityNames?: IdentityNames | undefined },
): Promise<AuthCallout> {
  return startAuthCallout(nc, {
    keys: ctx.keys,
    verify: (t: string) => ctx.verifier.verify(t),
    log: logFor(ctx, "auth"),
    ...(ctx.registry ? { registry: ctx.registry } : {}),
    ...(ctx.identityNames ? { identityNames: ctx.identityNames } : {}),
  });
}

import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ensureBuckets, ensureEventStream, type EventStreamOptions } from "../streams/index.ts";
import { PROJECTIONS } from "./catalog.ts";
import type { Db } from "./db.ts";
import type { PoisonPolicy } from "./parking.ts";
import type { Projection } from "./projection.ts";
import { Projector } from "./projector.ts";

export type ProjectionServiceOptions = {
  log: Logger;
  registry?: Registry;
  /** The projections to run (default: all). */
  only?: readonly string[];
  /** Poison handling per projection name (default `hold`). */
  poison?: Readonly<Record<string, PoisonPolicy>>;
  stream?: EventStreamOptions;
  leaseMs?: number;
  batchSize?: number;
  retryDelayMs?: number;
};

/** Running projectors. */
export type ProjectionService = {
  readonly projectors: ReadonlyMap<string, Projector>;
  stop(): Promise<void>;
};

/**
 * Runs natter's projectors (each active in one instance at a time; others stand by): the
 * PostgreSQL read models and the KV membership shards. Creates the stream and buckets if missing.
 */
export async function startProjections(
  nc: NatsConnection,
  db: Db,
  options: ProjectionServiceOptions,
): Promise<ProjectionService> {
  await ensureEventStream(nc, options.stream);
  const buckets = await ensureBuckets(nc, { replicas: options.stream?.replicas });
  const chosen: Projection[] = [...PROJECTIONS.values()].filter(
    (p) => options.only === undefined || options.only.includes(p.name),
  );
  const projectors = new Map<string, Projector>();
  for (const p of chosen) {
    const projector = new Projector(nc, p, {
      log: options.log,
      db,
      buckets: {
        members: buckets.members,
        user_rooms: buckets.user_rooms,
        thread_participants: buckets.thread_participants,
      },
      poison: options.poison?.[p.name],
      registry: options.registry,
      leaseMs: options.leaseMs,
      replicas: options.stream?.replicas,
      batchSize: options.batchSize,
      retryDelayMs: options.retryDelayMs,
    });
    projector.start();
    projectors.set(p.name, projector);
  }
  return {
    projectors,
    async stop() {
      await Promise.all([...projectors.values()].map((p) => p.stop()));
    },
  };
}

import type { KV } from "@nats-io/kv";
import type { BucketName, EventEnvelope } from "../streams/index.ts";
import type { Db, Tx } from "./db.ts";

/** A read model in PostgreSQL: its own schema, rows and checkpoint written in one transaction. */
export type PgProjection = {
  readonly kind: "pg";
  /** The name used by the CLI, the consumer and the metrics. */
  readonly name: string;
  /** Bumped when the rows it derives change; a different live version needs a rebuild. */
  readonly version: number;
  /** The live schema; rebuilds build `<liveSchema>__next` beside it. */
  readonly liveSchema: string;
  /** drizzle-kit's migrations folder for the live schema. */
  readonly migrationsDir: string;
  /** The event subjects it reads. */
  readonly filterSubjects: readonly string[];
  /** Its tables (in its schema) with the columns that order them, for verify. */
  readonly tables: readonly { name: string; orderBy: string }[];
  /** Applies events, in stream order, to the schema `schema` inside `tx`. Throws to refuse. */
  apply(tx: Tx, schema: string, events: readonly EventEnvelope[]): Promise<void>;
  /** Consistency checks a rebuilt schema must pass before it is swapped in (each problem a line). */
  check?(db: Db, schema: string): Promise<string[]>;
};

/** A read model in NATS KV, each value carrying the sequence that last set it. */
export type KvProjection = {
  readonly kind: "kv";
  readonly name: string;
  readonly version: number;
  readonly filterSubjects: readonly string[];
  readonly buckets: readonly BucketName[];
  /** Applies events in stream order; skips a key whose value has a newer sequence. */
  apply(buckets: Record<string, KV>, events: readonly EventEnvelope[]): Promise<void>;
  /** The whole expected content of each bucket after `events` (the full log), for rebuild and verify. */
  expected(events: Iterable<EventEnvelope>): Map<string, Map<string, string>>;
};

export type Projection = PgProjection | KvProjection;

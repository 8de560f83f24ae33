import {
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { EVENT_STREAM, EVENT_SUBJECTS } from "./subjects.ts";

const NANOS_PER_MS = 1_000_000;

/** The smallest duplicate window natter accepts by default: 2 minutes. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

export type EventStreamOptions = {
  /** Replicas of the stream: 1 on one server, 3 in a cluster. */
  replicas?: number;
  /** The window in which JetStream drops a repeated `Nats-Msg-Id` (tests set a short one). */
  duplicateWindowMs?: number;
};

/** The configuration natter needs for CHAT_EVENTS. */
export function eventStreamConfig(
  options: EventStreamOptions = {},
): Partial<StreamConfig> & { name: string; subjects: string[] } {
  return {
    name: EVENT_STREAM,
    subjects: [EVENT_SUBJECTS],
    description: "natter: the event log, the only source of truth",
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: 0,
    max_bytes: -1,
    max_msgs: -1,
    max_msgs_per_subject: -1,
    deny_delete: true,
    deny_purge: true,
    allow_direct: true,
    allow_rollup_hdrs: false,
    duplicate_window: (options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS) * NANOS_PER_MS,
    num_replicas: options.replicas ?? 1,
  };
}

/** An existing stream whose configuration natter cannot work with. */
export class StreamConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly warnings: string[],
  ) {
    super(
      `stream ${EVENT_STREAM} exists with a configuration natter cannot use:\n  - ${problems.join("\n  - ")}\n` +
        `natter does not change an existing event log by itself. Fix it with "nats stream edit ${EVENT_STREAM}" ` +
        `where the server allows, or move the events to a new stream with these settings.`,
    );
    this.name = "StreamConfigError";
  }
}

/**
 * Compares an existing stream's configuration with what natter needs. `problems` make natter
 * refuse to run (deleting or purging events possible, no direct get, wrong subjects, storage or
 * retention); `warnings` are logged (limits that would drop events, a short duplicate window,
 * other replicas than configured).
 */
export function checkEventStream(
  info: StreamInfo,
  options: EventStreamOptions = {},
): { problems: string[]; warnings: string[] } {
  const c = info.config;
  const want = eventStreamConfig(options);
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!c.subjects?.includes(EVENT_SUBJECTS))
    problems.push(`subjects are ${JSON.stringify(c.subjects)}, natter needs "${EVENT_SUBJECTS}"`);
  if (!c.deny_delete) problems.push("deny_delete is off: events could be deleted (natter needs deny_delete: true)");
  if (!c.deny_purge) problems.push("deny_purge is off: the log could be purged (natter needs deny_purge: true)");
  if (!c.allow_direct)
    problems.push("allow_direct is off: aggregates are loaded by direct get (natter needs allow_direct: true)");
  if (c.retention !== RetentionPolicy.Limits)
    problems.push(`retention is ${c.retention}: natter needs limits retention, so no event is removed when read`);
  if (c.storage !== StorageType.File)
    warnings.push(`storage is ${c.storage}: events are lost when the server stops (natter expects file storage)`);
  if (c.max_age > 0)
    warnings.push(`max_age is ${c.max_age / 1e9} s: older events will be removed from the source of truth`);
  if (c.max_bytes > 0 || c.max_msgs > 0 || (c.max_msgs_per_subject ?? -1) > 0)
    warnings.push("a size or count limit is set: events will be removed when it is reached");
  if ((c.duplicate_window ?? 0) < (want.duplicate_window ?? 0)) {
    warnings.push(
      `duplicate_window is ${(c.duplicate_window ?? 0) / 1e9} s, shorter than ${(want.duplicate_window ?? 0) / 1e9} s`,
    );
  }
  if (c.num_replicas !== want.num_replicas)
    warnings.push(`num_replicas is ${c.num_replicas}, configured ${want.num_replicas}`);
  return { problems, warnings };
}

/**
 * Creates CHAT_EVENTS if it is missing; checks it if it exists. Resolves with the stream info and
 * the warnings to log; rejects with StreamConfigError when the existing stream is unusable.
 */
export async function ensureEventStream(
  nc: NatsConnection,
  options: EventStreamOptions = {},
): Promise<{ info: StreamInfo; warnings: string[] }> {
  const jsm = await jetstreamManager(nc);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(EVENT_STREAM);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== 10059) throw err;
    try {
      info = await jsm.streams.add(eventStreamConfig(options));
      return { info, warnings: [] };
    } catch (addErr) {
      // Another part created it at the same moment: check what it made.
      if (!(addErr instanceof JetStreamApiError) || addErr.code !== 10058) throw addErr;
      info = await jsm.streams.info(EVENT_STREAM);
    }
  }
  const { problems, warnings } = checkEventStream(info, options);
  if (problems.length > 0) throw new StreamConfigError(problems, warnings);
  return { info, warnings };
}

/** The KV buckets natter keeps beside the log; each is rebuildable from it, but `presence`, which is ephemeral. */
export const BUCKETS = {
  /** Snapshots of long aggregates: `<kind>.<id…>` → `{ seq, state }`. */
  snapshots: { history: 1, description: "natter: aggregate snapshots" },
  /** The command index: `<userId>.<commandId>` → `{ seq, subject }`, for idempotency. */
  commands: { history: 1, description: "natter: applied commands by user and command id" },
  /** Room membership shards: `<roomId>.<userId>` → role and join sequence. */
  members: { history: 1, description: "natter: room members" },
  /** The reverse index: `<userId>.<roomId>`. */
  user_rooms: { history: 1, description: "natter: a user's rooms" },
  /** Thread repliers (projections/threads): `<roomId>.<rootId>` → repliers and the last reply's sequence. */
  thread_participants: { history: 1, description: "natter: who replied in each thread" },
  /**
   * Presence (projections/live/presence.ts): `<userId>.<connectionId>` → `{ status, at }` per
   * connection, each written with a per-message TTL (so `markerTTL`, which turns per-message TTLs
   * on; the expiry markers it leaves live that long), and `<userId>` → the status last announced.
   */
  presence: { history: 1, markerTTL: 60_000, description: "natter: presence by user and connection" },
} as const;
export type BucketName = keyof typeof BUCKETS;

/** Opens one of natter's KV buckets, creating it where missing with its settings and `replicas`. */
export function openBucket(nc: NatsConnection, name: BucketName, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(name, { ...BUCKETS[name], replicas, storage: StorageType.File });
}

/** Opens (creating where missing) natter's KV buckets. */
export async function ensureBuckets(
  nc: NatsConnection,
  options: { replicas?: number } = {},
): Promise<Record<BucketName, KV>> {
  const entries = await Promise.all(
    (Object.keys(BUCKETS) as BucketName[]).map(
      async (name) => [name, await openBucket(nc, name, options.replicas)] as const,
    ),
  );
  return Object.fromEntries(entries) as Record<BucketName, KV>;
}

import type { z } from "zod";
import {
  findUnstorable,
  ForbiddenError,
  InvalidError,
  RateLimitedError,
  RateLimiter,
  type RateLimit,
} from "../domain/index.ts";
import { auditFromReadModel, type Db } from "../projections/index.ts";
import { visibleUsers, type Caller } from "./access.ts";
import type { ReadMarkers } from "./readMarkers.ts";
import { findUsers, myRooms, publicRooms, roomBans, roomDetail, searchMessages } from "./roomQueries.ts";
import { inputs, outputs, type QueryName } from "./schemas.ts";
import type { TimelineCache } from "./timelineCache.ts";
import { changesSince, editHistory, threadOf, timelinePage } from "./timelineQueries.ts";

/** What a query needs to answer. */
export type QueryDeps = {
  db: Db;
  markers: ReadMarkers;
  /** The presence of users (from the live part's KV). */
  presenceOf(userIds: string[]): Promise<Record<string, "online" | "away" | "offline">>;
  /** Timeline pages and room access kept in step with the projections (absent: every page reads the database). */
  timeline?: TimelineCache;
};

type Query<Q extends QueryName> = {
  /** The projections whose checkpoints `minSeq` waits for. */
  reads: readonly ("rooms" | "timeline" | "audit")[];
  /** Only admins may ask. */
  admin?: true;
  /** The NATS name (`q.<uid>.<nats>`). */
  nats: string;
  run(deps: QueryDeps, caller: Caller, input: z.infer<(typeof inputs)[Q]>): Promise<z.infer<(typeof outputs)[Q]>>;
};

/** Every query of the read API, by name. HTTP and NATS both answer through these. */
export const QUERIES: { [Q in QueryName]: Query<Q> } = {
  rooms: { nats: "rooms", reads: ["rooms", "timeline"], run: (d, c) => myRooms(d.db, c) },
  roomsPublic: { nats: "rooms.public", reads: ["rooms"], run: (d, c, q) => publicRooms(d.db, c, q) },
  room: { nats: "room", reads: ["rooms"], run: (d, c, q) => roomDetail(d.db, c, q) },
  messages: { nats: "messages", reads: ["rooms", "timeline"], run: (d, c, q) => timelinePage(d.db, c, q, d.timeline) },
  changes: { nats: "changes", reads: ["rooms", "timeline"], run: (d, c, q) => changesSince(d.db, c, q) },
  thread: { nats: "thread", reads: ["rooms", "timeline"], run: (d, c, q) => threadOf(d.db, c, q) },
  history: { nats: "history", reads: ["rooms", "timeline"], run: (d, c, q) => editHistory(d.db, c, q) },
  readBy: { nats: "readBy", reads: ["rooms", "timeline"], run: (d, c, q) => d.markers.readBy(c, q) },
  bans: { nats: "bans", reads: ["rooms"], run: (d, c, q) => roomBans(d.db, c, q) },
  markRead: { nats: "markRead", reads: ["rooms", "timeline"], run: (d, c, q) => d.markers.mark(c, q) },
  search: { nats: "search", reads: ["rooms", "timeline"], run: (d, c, q) => searchMessages(d.db, c, q) },
  users: { nats: "users", reads: ["rooms"], run: (d, _c, q) => findUsers(d.db, q) },
  presence: {
    nats: "presence",
    reads: ["rooms"],
    run: async (d, c, q) => ({ presence: await d.presenceOf(await visibleUsers(d.db, c, q.userIds)) }),
  },
  audit: {
    nats: "audit",
    reads: ["audit"],
    admin: true,
    run: async (d, _c, q) => ({
      events: (
        await auditFromReadModel(d.db, {
          actor: q.actor,
          room: q.roomId,
          type: q.type,
          since: q.since === undefined ? undefined : new Date(q.since),
          until: q.until === undefined ? undefined : new Date(q.until),
          limit: q.limit,
        })
      ).map(({ seq, time, type, actor, subject, roomId, commandId, correlationId, causationId, payload }) => ({
        seq,
        time,
        type,
        actor,
        subject,
        roomId,
        commandId,
        correlationId,
        causationId,
        payload,
      })),
    }),
  },
};

/** The query of a NATS name (`rooms.public` → `roomsPublic`). */
export const queryOfNatsName: ReadonlyMap<string, QueryName> = new Map(
  Object.entries(QUERIES).map(([name, q]) => [q.nats, name as QueryName]),
);

/** Parses a query's input; an InvalidError with each bad field otherwise. */
export function parseInput<Q extends QueryName>(name: Q, raw: unknown): z.infer<(typeof inputs)[Q]> {
  const unfit = findUnstorable(raw);
  if (unfit !== undefined)
    throw new InvalidError(`bad ${name} query: ${unfit.path} ${unfit.problem}`, {
      details: { fields: { [unfit.path]: unfit.problem } },
    });
  const r = inputs[name].safeParse(raw);
  if (!r.success) {
    const fields = Object.fromEntries(r.error.issues.map((i) => [i.path.join(".") || "(body)", i.message]));
    throw new InvalidError(
      `bad ${name} query: ${Object.entries(fields)
        .map(([k, v]) => `${k}: ${v}`)
        .join("; ")}`,
      { details: { fields } },
    );
  }
  return r.data as z.infer<(typeof inputs)[Q]>;
}

/** Per-user query limits; `take` throws RateLimitedError with `retryAfterMs`. */
export class QueryLimiter {
  private readonly limiter: RateLimiter;
  constructor(limit: RateLimit) {
    this.limiter = new RateLimiter(limit);
  }
  take(key: string, what: string): void {
    const wait = this.limiter.take(key, Date.now());
    if (wait > 0)
      throw new RateLimitedError(`too many ${what}: try again in ${wait} ms`, { details: { retryAfterMs: wait } });
  }
}

/** Refuses a non-admin an admin-only query. */
export function assertAllowed(name: QueryName, caller: Caller): void {
  if (QUERIES[name].admin && !caller.admin) throw new ForbiddenError(`${name} is for admins only`);
}

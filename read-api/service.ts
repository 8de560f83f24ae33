import type { IncomingMessage, ServerResponse } from "node:http";
import { headers as natsHeaders, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { InvalidError, NatterError, UnauthenticatedError, type RateLimit } from "../domain/index.ts";
import type { IdentityNames, TokenVerifier, VerifiedToken } from "../auth/index.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { presenceStatuses, type Db } from "../projections/index.ts";
import { isInbox, type EventStore } from "../streams/index.ts";
import type { Caller } from "./access.ts";
import { CheckpointWatch, type ProjectionHealth } from "./checkpoints.ts";
import { openApiDocument } from "./openapi.ts";
import { assertAllowed, parseInput, QUERIES, QueryLimiter, queryOfNatsName, type QueryDeps } from "./queries.ts";
import { ReadMarkers } from "./readMarkers.ts";
import { resultJson } from "./resultJson.ts";
import { TimelineCache } from "./timelineCache.ts";
import { matchRoute } from "./routes.ts";
import type { QueryName } from "./schemas.ts";

export type ReadApiOptions = {
  log: Logger;
  registry?: Registry;
  /** Checks bearer tokens on HTTP (absent: HTTP answers 503). */
  verifier?: TokenVerifier;
  /** Where the names of the tokens checked on HTTP are recorded, so that a client that only uses HTTP is named too (default: nowhere). */
  identityNames?: IdentityNames;
  /** A connection silent this long is offline when presence is read from the `presence` bucket (default 30 s). */
  presenceTimeoutMs?: number;
  /** Per-user query limit, on HTTP and NATS together (default 60 burst, 30 a second). */
  queryRateLimit?: RateLimit;
  /** Per-address HTTP limit (default 120 burst, 60 a second). */
  httpRateLimit?: RateLimit;
  /** How long a query waits for its `minSeq` (default 2 s). */
  minSeqTimeoutMs?: number;
  /** Replicas of the read markers bucket. */
  replicas?: number;
  /**
   * Addresses of reverse proxies whose `X-Forwarded-For` names the client for the per-address
   * limit (default none: the socket's address counts, and the header is ignored).
   */
  trustedProxies?: readonly string[];
  /** Messages (plus access rows) the timeline cache holds; 0 turns it off (default 50,000). */
  cacheEntries?: number;
  /** The estimated bytes the timeline cache may hold (default 128 MiB; see messageBytes). */
  cacheBytes?: number;
};

/** What CheckpointWatch.reached answers for `minSeq` 0. */
const NOTHING_TO_WAIT_FOR = Object.freeze({ ok: true, applied: Object.freeze({}) });
/** The largest request body (HTTP) or query payload (NATS), in bytes. */
export const MAX_QUERY_BYTES = 16 * 1024;
/** The longest request target on HTTP, in characters. */
export const MAX_URL_LENGTH = 4096;
const STATUS: Record<string, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
};
const PROJECTIONS_READ = ["rooms", "timeline", "audit"] as const;
/** How long one health answer serves. */
const HEALTH_CACHE_MS = 1000;

/** The read API: queries over HTTP (`handle`) and NATS (`q.<uid>.<query>`, `adminq.<uid>.audit`). */
export type ReadApi = {
  /** Answers a request under `/api/`; returns false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** One query as the caller, as both transports run it; `stale` when `minSeq` was not reached in time. */
  execute(name: QueryName, caller: Caller, raw: Record<string, unknown>): Promise<{ result: unknown; stale: boolean }>;
  /** The timeline cache, when on (its counters show what it answered). */
  readonly timelineCache: TimelineCache | undefined;
  /**
   * `degraded` when NATS or the database is down, or a projection it reads has parked events, is
   * halted or has stalled (each projection's state says which); `ok` otherwise.
   */
  health(): Promise<{
    status: "ok" | "degraded";
    nats: string;
    database: string;
    projections: Record<string, ProjectionHealth>;
  }>;
  drain(): Promise<void>;
};

/**
 * Starts the read API on `nc` (queue group `read-api`) over the read models in `db`, and returns
 * its HTTP handler for the caller's server. Creates the read markers' bucket and table if missing.
 */
export async function startReadApi(
  nc: NatsConnection,
  db: Db,
  store: EventStore,
  options: ReadApiOptions,
): Promise<ReadApi> {
  const { log } = options;
  const markers = await ReadMarkers.open(nc, db, { replicas: options.replicas });
  const jsm = await jetstreamManager(nc);
  const uncached: QueryDeps = {
    db,
    markers,
    presenceOf: async (ids) =>
      ids.length === 0 ? {} : presenceStatuses(jsm, ids, options.presenceTimeoutMs ?? 30_000, Date.now()),
  };
  const watch = new CheckpointWatch(nc, db, store, options.minSeqTimeoutMs);
  const cacheEntries = options.cacheEntries ?? 50_000;
  const timeline =
    cacheEntries > 0
      ? await new TimelineCache({ maxEntries: cacheEntries, maxBytes: options.cacheBytes ?? 128 * 1024 * 1024 }).listen(
          watch,
          nc,
        )
      : undefined;
  const deps: QueryDeps = { ...uncached, timeline };
  if (options.registry && timeline) {
    const stats = timeline.stats;
    const reg = [options.registry];
    new Gauge({
      name: "natter_timeline_cache_entries",
      help: "messages and access rows held by the read API's timeline cache",
      registers: reg,
      collect() {
        this.set(timeline.held);
      },
    });
    new Gauge({
      name: "natter_timeline_cache_bytes",
      help: "the estimated bytes the read API's timeline cache holds",
      registers: reg,
      collect() {
        this.set(timeline.heldBytes);
      },
    });
    for (const k of ["hits", "misses", "shared", "invalidations", "evictions", "resets"] as const) {
      new Counter({
        name: `natter_timeline_cache_${k}_total`,
        help: `timeline cache ${k}`,
        registers: reg,
        collect() {
          this.reset();
          this.inc(stats[k]);
        },
      });
    }
  }
  const perUser = new QueryLimiter(options.queryRateLimit ?? { burst: 60, perSecond: 30 });
  const perAddress = new QueryLimiter(options.httpRateLimit ?? { burst: 120, perSecond: 60 });
  const duration = options.registry
    ? new Histogram({
        name: "natter_query_seconds",
        help: "read API queries by name, transport and outcome",
        labelNames: ["query", "transport", "outcome"],
        registers: [options.registry],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
      })
    : undefined;
  const refused = options.registry
    ? new Counter({
        name: "natter_http_refused_total",
        help: "HTTP requests answered with an error, by code",
        labelNames: ["code"],
        registers: [options.registry],
      })
    : undefined;
  const tokens = new TokenCache(options.verifier);
  const trusted = new Set((options.trustedProxies ?? []).map(plainAddress));
  const openapi = JSON.stringify(openApiDocument());

  async function execute(name: QueryName, caller: Caller, raw: Record<string, unknown>) {
    perUser.take(caller.userId, "queries");
    assertAllowed(name, caller);
    const input = parseInput(name, raw);
    // `changes` answers everything up to where the timeline stands: wait until it has applied the
    // log as it is now, so a client that subscribed first misses nothing between.
    // `changes` answers up to the log's end, and a read marker is set at a message the timeline
    // must have applied (it is kept to the room's last message): each waits for that, at least.
    const asked = (input as { minSeq?: number }).minSeq ?? 0;
    const minSeq =
      name === "changes"
        ? Math.max(asked, await store.lastSeq())
        : name === "markRead"
          ? Math.max(asked, (input as { seq: number }).seq)
          : asked;
    const reached = minSeq > 0 ? await watch.reached(QUERIES[name].reads, minSeq) : NOTHING_TO_WAIT_FOR;
    const stale = !reached.ok;
    // The cache answers only where it has taken in the announcements that `minSeq` needs.
    const d = deps.timeline === undefined || deps.timeline.covers(minSeq, reached.applied) ? deps : uncached;
    const result = await (QUERIES[name].run as (d: QueryDeps, c: Caller, i: unknown) => Promise<unknown>)(
      d,
      caller,
      input,
    );
    return { result, stale };
  }

  const answerError = (err: unknown) => {
    if (err instanceof NatterError) return err;
    log.error({ err }, "read API: query failed");
    return null;
  };

  async function serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const started = performance.now();
    let name: string = "unknown";
    try {
      perAddress.take(clientAddress(req, trusted), "requests from this address");
      if ((req.url ?? "").length > MAX_URL_LENGTH)
        return send(res, 414, {
          error: { code: "invalid", message: `the request target is longer than ${MAX_URL_LENGTH} characters` },
        });
      if (url.pathname === "/api/openapi.json" && req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" }).end(openapi);
        return;
      }
      const route = matchRoute(req.method ?? "GET", url.pathname);
      if (route === null) throw new NotFoundPath(url.pathname);
      if (route === "method")
        return send(res, 405, {
          error: { code: "invalid", message: `${req.method} is not allowed on ${url.pathname}` },
        });
      name = route.query;
      const auth = req.headers.authorization;
      if (auth === undefined || !/^Bearer [A-Za-z0-9._~+/=-]+$/.test(auth))
        throw new UnauthenticatedError("send Authorization: Bearer <access token>");
      const who = await tokens.verify(auth.slice(7));
      options.identityNames?.note(who.userId, who.identityName);
      const caller: Caller = { userId: who.userId, admin: who.realmRole === "admin" };
      const raw: Record<string, unknown> = { ...Object.fromEntries(url.searchParams), ...route.params };
      if (req.method === "POST") Object.assign(raw, await readJsonBody(req), route.params);
      const { result, stale } = await execute(route.query, caller, raw);
      duration?.observe({ query: name, transport: "http", outcome: "ok" }, (performance.now() - started) / 1000);
      sendText(res, 200, resultJson(route.query, result), stale);
    } catch (err) {
      const known = err instanceof NotFoundPath ? err : answerError(err);
      const code = known?.code ?? "internal";
      refused?.inc({ code });
      duration?.observe({ query: name, transport: "http", outcome: code }, (performance.now() - started) / 1000);
      const status = known instanceof BodyTooLarge ? 413 : (STATUS[code] ?? 500);
      const extra: Record<string, string> =
        known?.code === "rate_limited"
          ? { "retry-after": String(Math.ceil(Number(known.details?.["retryAfterMs"] ?? 1000) / 1000)) }
          : {};
      send(
        res,
        status,
        { error: known?.toJSON() ?? { code: "unavailable", message: "the read API failed to answer: try again" } },
        false,
        extra,
      );
    }
  }

  const subs: Subscription[] = ["q.>", "adminq.>"].map((subject) =>
    nc.subscribe(subject, {
      queue: "read-api",
      callback: (err, m) => {
        if (err) return;
        // The reply subject is the asker's choice and the answer goes out with the gateway's
        // permissions: a query whose reply subject is not an inbox is not run at all.
        if (m.reply !== undefined && !isInbox(m.reply)) return;
        const started = performance.now();
        const parts = m.subject.split(".");
        const name = queryOfNatsName.get(parts.slice(2).join("."));
        const reply = (text: string, stale = false) => {
          if (m.reply === undefined) return;
          const h = natsHeaders();
          if (stale) h.set("Natter-Stale", "1");
          m.respond(text, { headers: h });
        };
        void (async () => {
          try {
            if (name === undefined)
              throw new InvalidError(
                `no query ${parts.slice(2).join(".")}: ask one of ${[...queryOfNatsName.keys()].join(", ")}`,
              );
            if (m.data.length > MAX_QUERY_BYTES)
              throw new InvalidError(`the query is larger than ${MAX_QUERY_BYTES} bytes`);
            let raw: unknown = {};
            if (m.data.length > 0) {
              try {
                raw = JSON.parse(m.string());
              } catch {
                throw new InvalidError("the query body is not JSON");
              }
            }
            if (typeof raw !== "object" || raw === null || Array.isArray(raw))
              throw new InvalidError("the query body must be a JSON object");
            const { result, stale } = await execute(
              name,
              { userId: parts[1]!, admin: parts[0] === "adminq" },
              raw as Record<string, unknown>,
            );
            duration?.observe({ query: name, transport: "nats", outcome: "ok" }, (performance.now() - started) / 1000);
            reply(`{"ok":true,"result":${resultJson(name, result)}}`, stale);
          } catch (e) {
            const known = answerError(e);
            duration?.observe(
              { query: name ?? "unknown", transport: "nats", outcome: known?.code ?? "internal" },
              (performance.now() - started) / 1000,
            );
            reply(
              JSON.stringify({
                ok: false,
                error: known?.toJSON() ?? { code: "unavailable", message: "the read API failed to answer: try again" },
              }),
            );
          }
        })();
      },
    }),
  );

  type Health = Awaited<ReturnType<ReadApi["health"]>>;
  let lastHealth: { at: number; answer: Promise<Health> } | undefined;
  const checkHealth = async (): Promise<Health> => {
    const [database, projections] = await Promise.all([
      watch.databaseUp(),
      watch.lag(PROJECTIONS_READ).catch(() => ({}) as Record<string, ProjectionHealth>),
    ]);
    const nats = nc.isClosed() ? "closed" : "connected";
    const troubled = Object.values(projections).some((p) => p.state !== "ok");
    return {
      status: database && nats === "connected" && !troubled ? "ok" : "degraded",
      nats,
      database: database ? "up" : "down",
      projections,
    };
  };

  return {
    execute,
    timelineCache: timeline,
    handle(req, res) {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://natter");
      } catch {
        return false;
      }
      if (!url.pathname.startsWith("/api/") && url.pathname !== "/api") return false;
      void serve(req, res, url);
      return true;
    },
    health() {
      // Health is unauthenticated: one answer a second however often it is asked, so a flood of
      // probes cannot load the database (PGlite serves one query at a time).
      const now = Date.now();
      if (lastHealth === undefined || now - lastHealth.at >= HEALTH_CACHE_MS)
        lastHealth = { at: now, answer: checkHealth() };
      return lastHealth.answer;
    },
    async drain() {
      for (const s of subs) s.unsubscribe();
      watch.stop();
      timeline?.stop();
    },
  };
}

/** No route under /api/ matches. */
class NotFoundPath extends NatterError {
  readonly code = "not_found" as const;
  constructor(path: string) {
    super(`no such path: ${path} (see /api/openapi.json)`);
  }
}

/** An IPv4 address as itself, also when the socket gives it IPv4-mapped (`::ffff:10.0.0.1`). */
const plainAddress = (a: string): string => (a.startsWith("::ffff:") && a.includes(".") ? a.slice(7) : a).toLowerCase();

/**
 * The address a request comes from, for the per-address limit: the socket's, or, when the socket
 * is a trusted proxy, the nearest address in `X-Forwarded-For` that is not a trusted proxy (read
 * from the right: what a client writes on the left cannot choose its own bucket).
 */
export function clientAddress(
  req: Pick<IncomingMessage, "headers"> & { socket: { remoteAddress?: string | undefined } },
  trusted: ReadonlySet<string>,
): string {
  let address = plainAddress(req.socket.remoteAddress ?? "?");
  if (!trusted.has(address)) return address;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((h) => plainAddress(h.trim()))
    .filter((h) => h !== "");
  while (hops.length > 0 && trusted.has(address)) address = hops.pop()!;
  return address;
}

/** A request body over the limit. */
class BodyTooLarge extends InvalidError {}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  stale = false,
  extra: Record<string, string> = {},
): void {
  sendText(res, status, JSON.stringify(body), stale, extra);
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  stale = false,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    ...(stale ? { "natter-stale": "1" } : {}),
    ...extra,
  });
  res.end(text);
}

/** Reads a JSON object body of at most MAX_QUERY_BYTES. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(req.headers["content-type"] ?? ""))
    throw new InvalidError("send the body as application/json");
  if (Number(req.headers["content-length"] ?? 0) > MAX_QUERY_BYTES)
    throw new BodyTooLarge(`the body is larger than ${MAX_QUERY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_QUERY_BYTES) throw new BodyTooLarge(`the body is larger than ${MAX_QUERY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new InvalidError("the body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new InvalidError("the body must be a JSON object");
  return body as Record<string, unknown>;
}

/**
 * Verified tokens, kept until they expire, so a client's requests cost one signature check per
 * token rather than one per request. Bounded: the oldest entries go first.
 */
class TokenCache {
  private readonly cache = new Map<string, VerifiedToken>();
  constructor(
    private readonly verifier: TokenVerifier | undefined,
    private readonly max = 10_000,
  ) {}

  async verify(token: string): Promise<VerifiedToken> {
    const hit = this.cache.get(token);
    if (hit !== undefined && hit.exp * 1000 > Date.now()) return hit;
    if (this.verifier === undefined)
      throw new UnauthenticatedError("this read API checks no tokens (no issuer configured)");
    const v = await this.verifier.verify(token);
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, v);
    return v;
  }
}

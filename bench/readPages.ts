/**
 * Timeline pages for the `read` suite: `GET /api/rooms/{roomId}/messages?limit=&before=` over HTTP
 * at a steady rate (open loop, keep-alive connections), and the baseline: the SQL statements the
 * read API runs for such a page, sent straight to PostgreSQL through a pool of the same size.
 *
 * The baseline's statements are not written out here: they are recorded from read-api's own
 * `timelinePage` (run once through a recording client), so the baseline follows the read API
 * whenever its SQL changes. Statements the read API sends at once are sent at once here too.
 */
import { Agent, request } from "node:http";
import { drizzle } from "drizzle-orm/node-postgres";
import type pg from "pg";
import type { Db } from "../projections/index.ts";
import { parseInput } from "../read-api/queries.ts";
import { timelinePage } from "../read-api/timelineQueries.ts";
import { openLoop, Phase, summarize, type LatencySummary } from "./lib.ts";
import type { BenchUser } from "./readSystem.ts";

/** How a page load is driven. */
export type PageLoad = {
  /** Requests (or baseline pages) a second. */
  rate: number;
  /** Seconds measured, after `warmup` seconds at the same rate that are not. */
  duration: number;
  warmup: number;
  /** Messages per page. */
  limit: number;
};

/** What one page load measured. */
export type PageResult = {
  latency: LatencySummary;
  /** Completed measured requests per second, over the measured span. */
  achieved: number;
  errors: number;
  /** The first error, for the report. */
  firstError: string;
  /** How late, at most, a request was sent after its scheduled moment (the client's own stall). */
  maxLateMs: number;
  /** Mean response body size (HTTP only). */
  meanBytes: number;
};

/** One page request for the load: the user asking and the sequence the page ends before. */
type Ask = { user: BenchUser; before: number };

/**
 * Runs `ask(k)` at `load.rate` a second, open loop, for warm-up plus measured seconds; the latency
 * of a request is from its scheduled moment to its completion. Progress goes to stderr.
 */
async function drive(
  label: string,
  load: PageLoad,
  ask: (k: number) => Promise<{ ok: boolean; error?: string; bytes?: number }>,
): Promise<PageResult> {
  const warm = Math.round(load.warmup * load.rate);
  const total = warm + Math.round(load.duration * load.rate);
  const latencies: number[] = [];
  let errors = 0;
  let firstError = "";
  let bytes = 0;
  let firstDue = Number.POSITIVE_INFINITY;
  let lastDone = 0;
  const phase = new Phase(label, total, 2000, process.stderr);
  const { maxLateMs } = await openLoop(load.rate, total, async (k, due) => {
    let outcome: { ok: boolean; error?: string; bytes?: number };
    try {
      outcome = await ask(k);
    } catch (err) {
      outcome = { ok: false, error: String(err) };
    }
    const done = performance.now();
    phase.done++;
    if (k < warm) return;
    firstDue = Math.min(firstDue, due);
    lastDone = Math.max(lastDone, done);
    if (outcome.ok) {
      latencies.push(done - due);
      bytes += outcome.bytes ?? 0;
    } else {
      errors++;
      phase.errors++;
      firstError ||= outcome.error ?? "?";
    }
  });
  phase.end(`sends at most ${maxLateMs.toFixed(1)} ms late`);
  const span = (lastDone - firstDue) / 1000;
  return {
    latency: summarize(latencies),
    achieved: latencies.length / span,
    errors,
    firstError,
    maxLateMs,
    meanBytes: latencies.length ? bytes / latencies.length : 0,
  };
}

/** The k-th request's user and page: users round-robin, a page before a random post of the room. */
function asker(users: BenchUser[], postSeqs: number[]): (k: number) => Ask {
  return (k) => ({ user: users[k % users.length]!, before: postSeqs[Math.floor(Math.random() * postSeqs.length)]! });
}

/**
 * Timeline pages over HTTP with a bearer token, open loop at `load.rate`, over keep-alive
 * connections (at most `sockets`). A request counts as an error unless it answers 200 with a JSON
 * page; one in a hundred answers is parsed to check that it holds messages.
 */
export async function pagesOverHttp(
  baseUrl: string,
  roomId: string,
  users: BenchUser[],
  postSeqs: number[],
  load: PageLoad & { sockets: number },
): Promise<PageResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: load.sockets });
  const { hostname, port } = new URL(baseUrl);
  const next = asker(users, postSeqs);
  const auth = new Map(users.map((u) => [u.id, `Bearer ${u.token}`]));
  const get = (k: number): Promise<{ ok: boolean; error?: string; bytes: number }> =>
    new Promise((resolveGet) => {
      const { user, before } = next(k);
      const req = request(
        {
          agent,
          hostname,
          port,
          path: `/api/rooms/${roomId}/messages?limit=${load.limit}&before=${before}`,
          headers: { authorization: auth.get(user.id)! },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on("data", (c: Buffer) => {
            bytes += c.length;
            if (k % 100 === 0) chunks.push(c);
          });
          res.on("end", () => {
            if (res.statusCode !== 200) return resolveGet({ ok: false, error: `HTTP ${res.statusCode}`, bytes });
            if (k % 100 === 0) {
              const page = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { messages?: unknown[] };
              if (!Array.isArray(page.messages) || page.messages.length === 0)
                return resolveGet({ ok: false, error: "a page without messages", bytes });
            }
            resolveGet({ ok: true, bytes });
          });
          res.on("error", (err) => resolveGet({ ok: false, error: String(err), bytes }));
        },
      );
      req.on("error", (err) => resolveGet({ ok: false, error: String(err), bytes: 0 }));
      req.end();
    });
  try {
    return await drive(
      `GET timeline pages over HTTP at ${load.rate}/s (${load.warmup} s warm-up + ${load.duration} s, ${users.length} users, ${load.sockets} sockets at most)`,
      load,
      get,
    );
  } finally {
    agent.destroy();
  }
}

/** Where a recorded statement's parameter comes from. */
type Param = { from: "user" | "room" | "before" } | { from: "value"; value: unknown };
/** The statements of a page as the read API sends them: groups one after the other, a group's statements at once. */
export type PagePlan = { text: string; params: Param[] }[][];

/**
 * Records the statements read-api's `timelinePage` sends for a page of `limit` before `before` as
 * `user`: runs it once on `pool` through a client that notes each statement, its parameters (which
 * of them are the caller, the room and `before`) and which statements were in flight together.
 */
export async function recordPagePlan(
  pool: pg.Pool,
  user: BenchUser,
  roomId: string,
  before: number,
  limit: number,
): Promise<PagePlan> {
  const plan: PagePlan = [];
  let inFlight = 0;
  const paramOf = (v: unknown): Param =>
    v === user.id
      ? { from: "user" }
      : v === roomId
        ? { from: "room" }
        : v === before
          ? { from: "before" }
          : { from: "value", value: v };
  const recorder = {
    query(config: { text: string } | string, values?: unknown[]) {
      if (inFlight === 0) plan.push([]);
      plan
        .at(-1)!
        .push({ text: typeof config === "string" ? config : config.text, params: (values ?? []).map(paramOf) });
      inFlight++;
      return pool.query(config as string, values).finally(() => inFlight--);
    },
  };
  const db = drizzle(recorder as unknown as pg.Pool) as unknown as Db;
  await timelinePage(
    db,
    { userId: user.id, admin: false },
    parseInput("messages", { roomId, before: String(before), limit: String(limit) }),
  );
  return plan;
}

/** The plan as text for the report: one line per statement, `∥` between statements sent together. */
export function describePlan(plan: PagePlan): string[] {
  return plan.map(
    (group, g) => `${g + 1}. ${group.map((s) => s.text.replace(/\s+/g, " ").slice(0, 90) + "…").join("  ∥  ")}`,
  );
}

/** The baseline: `plan` for random pages, open loop at `load.rate`, straight on `pool` (no HTTP, no read API). */
export async function pagesOverSql(
  pool: pg.Pool,
  plan: PagePlan,
  roomId: string,
  users: BenchUser[],
  postSeqs: number[],
  load: PageLoad,
): Promise<PageResult> {
  const next = asker(users, postSeqs);
  const page = async (k: number) => {
    const { user, before } = next(k);
    const value = (p: Param): unknown =>
      p.from === "value" ? p.value : p.from === "user" ? user.id : p.from === "room" ? roomId : before;
    for (const group of plan) await Promise.all(group.map((s) => pool.query(s.text, s.params.map(value))));
    return { ok: true };
  };
  return drive(
    `baseline: the same SQL on a pg Pool of ${pool.options.max} at ${load.rate}/s (${load.warmup} s warm-up + ${load.duration} s)`,
    load,
    page,
  );
}

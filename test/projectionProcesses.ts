import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import { PROJECTIONS } from "../projections/catalog.ts";
import { query, type Db } from "../projections/db.ts";
import { verifyKv, verifyPg, type Difference } from "../projections/maintenance.ts";
import { listParked, readCheckpoint } from "../projections/pgStore.ts";
import { waitForApplied } from "../projections/readYourWrites.ts";
import { openCheckpointBucket } from "../projections/kvCheckpoint.ts";
import { EVENT_STREAM, EventStore } from "../streams/index.ts";
import { childEnv, logLine, spawnTsx, type TsxChild } from "./childProcess.ts";
import { sendCommand } from "./commandClient.ts";

/** Every projection natter runs. */
export const PROJECTION_NAMES = [...PROJECTIONS.keys()];

/**
 * Starts `node --import tsx app/service.ts projections` (what `npm run service -- projections` runs)
 * against `natsUrl` and `databaseUrl`, with the lease TTL `leaseMs` and info logs.
 */
export function spawnProjectionService(natsUrl: string, databaseUrl: string, leaseMs: number): TsxChild {
  return spawnTsx(
    "app/service.ts",
    ["projections"],
    childEnv({
      NATS_URL: natsUrl,
      DATABASE_URL: databaseUrl,
      NATTER_PROJECTION_LEASE_MS: String(leaseMs),
      LOG_LEVEL: "info",
    }),
  );
}

/** True when `line` is the JSON log line `msg` (for `projection`, when given). */
export function isLog(line: string, msg: string, projection?: string): boolean {
  const l = logLine(line);
  return l?.["msg"] === msg && (projection === undefined || l["projection"] === projection);
}

/** The projections a child has logged "projector active" for, so far. */
export function activeIn(child: TsxChild): Set<string> {
  return new Set(child.lines.filter((l) => isLog(l, "projector active")).map((l) => String(logLine(l)!["projection"])));
}

/** Waits until `child` has logged "projector active" for each of `names`. */
export async function waitActive(
  child: TsxChild,
  names: readonly string[] = PROJECTION_NAMES,
  timeoutMs = 20_000,
): Promise<void> {
  await Promise.all(names.map((n) => child.waitForLine((l) => isLog(l, "projector active", n), timeoutMs)));
}

/** Log lines that say something went wrong inside a projector. */
export function projectorErrors(child: TsxChild): string[] {
  return child.lines.filter((l) => {
    const level = logLine(l)?.["level"];
    return typeof level === "number" && level >= 50;
  });
}

/** The checkpoint of a projection as the read side sees it: its PostgreSQL row, or its KV entry. */
export function checkpointOf(nc: NatsConnection, db: Db, name: string): () => Promise<number> {
  const p = PROJECTIONS.get(name)!;
  if (p.kind === "pg") return async () => (await readCheckpoint(db, p.liveSchema, p.name))?.seq ?? 0;
  return async () => {
    const kv = await openCheckpointBucket(nc);
    const e = await kv.get(p.name);
    return e?.operation === "PUT" ? Number(e.string()) : 0;
  };
}

/** The last sequence of the event stream. */
export async function lastSeq(nc: NatsConnection): Promise<number> {
  return (await (await jetstreamManager(nc)).streams.info(EVENT_STREAM)).state.last_seq;
}

/**
 * Waits until every projection has applied the log up to `seq` (default: its end). A slow machine
 * only makes it wait longer: it throws when some projection has not moved for `stallMs`, or after
 * `maxMs` in all, with `describe()` (say, the projector processes' last log lines) in the message.
 */
export async function waitAllApplied(
  nc: NatsConnection,
  db: Db,
  seq?: number,
  options: { stallMs?: number; maxMs?: number; describe?: () => string } = {},
): Promise<void> {
  const target = seq ?? (await lastSeq(nc));
  const { stallMs = 15_000, maxMs = 120_000 } = options;
  const store = new EventStore(nc);
  const started = Date.now();
  await Promise.all(
    PROJECTION_NAMES.map(async (name) => {
      const cp = checkpointOf(nc, db, name);
      let last = await cp();
      let movedAt = Date.now();
      // Each round waits on the projector's announcements (waitForApplied), at most a few seconds.
      while (!(await waitForApplied(nc, store, PROJECTIONS.get(name)!, cp, target, 3000))) {
        const now = await cp();
        if (now !== last) [last, movedAt] = [now, Date.now()];
        if (Date.now() - movedAt > stallMs || Date.now() - started > maxMs) {
          const why =
            Date.now() - movedAt > stallMs ? `stuck at ${now} for ${stallMs} ms` : `at ${now} after ${maxMs} ms`;
          throw new Error(
            `projection ${name} did not reach ${target}: ${why}${options.describe ? `\n${options.describe()}` : ""}`,
          );
        }
      }
    }),
  );
}

/** A child's last log lines at warn level and above, and its last line, for failure messages. */
export function logTail(child: TsxChild, n = 8): string {
  const bad = child.lines.filter((l) => {
    const level = logLine(l)?.["level"];
    return typeof level === "number" && level >= 40;
  });
  return [
    `pid ${child.process.pid}:`,
    ...bad.slice(-n).map((l) => l.slice(0, 400)),
    `last: ${(child.lines.at(-1) ?? "").slice(0, 400)}`,
    child.stderr().slice(-1000),
  ].join("\n");
}

/** verifyPg for each PostgreSQL projection and verifyKv for each KV one: every difference found. */
export async function verifyAll(nc: NatsConnection, db: Db, leaseMs: number): Promise<Difference[]> {
  const out: Difference[] = [];
  for (const p of PROJECTIONS.values())
    out.push(...(p.kind === "pg" ? await verifyPg({ nc, db, leaseMs }, p) : await verifyKv({ nc, leaseMs }, p)));
  return out;
}

/** What the exactly-once checks compare: the log's side and the read models' side. */
export type ExactlyOnce = {
  streamSeqs: number[];
  auditSeqs: number[];
  auditRows: number;
  postedIds: string[];
  messageIds: string[];
  parked: string[];
};

/**
 * Reads what tells an event applied once from one applied twice or lost: every sequence of the log
 * against the audit table's rows, every MessagePosted against the messages table's rows, and the
 * parked events of every PostgreSQL projection.
 */
export async function exactlyOnceFacts(nc: NatsConnection, db: Db): Promise<ExactlyOnce> {
  const events = await new EventStore(nc).readSubject("ev.>");
  const audit = await query<{ seq: string }>(db, sql`SELECT seq FROM natter_audit.event_log ORDER BY seq`);
  const messages = await query<{ room_id: string; message_id: string }>(
    db,
    sql`SELECT room_id, message_id FROM natter_timeline.messages`,
  );
  const parked: string[] = [];
  for (const p of PROJECTIONS.values()) {
    if (p.kind === "pg")
      for (const x of await listParked(db, p.liveSchema))
        parked.push(`${p.name}: ${x.seq} ${x.type} ${x.status} ${x.error}`);
  }
  const sorted = (xs: string[]) => [...xs].sort();
  return {
    streamSeqs: events.map((e) => e.seq),
    auditSeqs: audit.map((r) => Number(r.seq)),
    auditRows: audit.length,
    postedIds: sorted(
      events.flatMap((e) =>
        e.event.type === "MessagePosted" ? [`${e.event.data.roomId}/${e.event.data.messageId}`] : [],
      ),
    ),
    messageIds: sorted(messages.map((m) => `${m.room_id}/${m.message_id}`)),
    parked,
  };
}

/** A running command load: users posting, replying, editing, reacting, deleting, leaving and joining. */
export type CommandLoad = {
  /** Commands answered so far, ok or refused. */
  readonly answered: () => number;
  /** Stops the loops; resolves with what they sent, or rejects with the first transport failure. */
  stop(): Promise<{ ok: number; refused: number; lastSeq: number }>;
};

/**
 * Starts `users.length` client loops, each one command at a time as its own user, over `rooms`
 * (public rooms the users joined), together at most `perSecond` commands a second. Each loop keeps
 * its own model so that most commands change something; a refusal (a domain error) is counted, a
 * transport failure ends the load.
 *
 * The pace keeps the log from outgrowing what the projector processes apply on a loaded 2-core
 * machine (unpaced, the command service appends about 1,000 a second here, and a test that waits
 * for a projection to catch up would measure the machine instead of the behaviour it checks).
 */
export function startCommandLoad(
  nc: NatsConnection,
  users: readonly string[],
  rooms: readonly string[],
  perSecond = 300,
): CommandLoad {
  let stopping = false;
  let ok = 0;
  let refused = 0;
  let last = 0;
  const interval = (1000 * users.length) / perSecond;
  const loop = async (user: string, u: number) => {
    const own: { roomId: string; messageId: string }[] = [];
    const left = new Set<string>();
    let due = Date.now();
    for (let n = 0; !stopping; n++) {
      due += interval;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      else due = Date.now();
      const roomId = rooms[(u + n) % rooms.length]!;
      const mine = own.length > 0 ? own[(n * 7) % own.length]! : undefined;
      const r = Math.random();
      let action: string;
      let body: Record<string, unknown>;
      if (left.has(roomId)) [action, body] = ["room.join", { roomId }];
      else if (r < 0.04) [action, body] = ["room.leave", { roomId }];
      else if (r < 0.14 && mine) [action, body] = ["msg.react", { ...mine, emoji: `:e${n}:` }];
      else if (r < 0.22 && mine) [action, body] = ["msg.edit", { ...mine, body: `${user} edit ${n}` }];
      else if (r < 0.25 && mine) [action, body] = ["msg.delete", mine];
      else if (r < 0.35 && mine)
        [action, body] = [
          "msg.post",
          { roomId: mine.roomId, body: `${user} reply ${n}`, threadRootId: mine.messageId },
        ];
      else [action, body] = ["msg.post", { roomId, body: `${user} #${n}` }];
      const reply = await sendCommand(nc, user, action, body, { timeout: 20_000 });
      if (!reply.ok) {
        refused++;
        continue;
      }
      ok++;
      last = Math.max(last, reply.seq);
      if (action === "room.leave") left.add(roomId);
      if (action === "room.join") left.delete(roomId);
      if (action === "msg.post")
        own.push({ roomId: body["roomId"] as string, messageId: reply.result["messageId"] as string });
      if (action === "msg.delete") own.splice(own.indexOf(mine!), 1);
    }
  };
  const loops = users.map((u, i) => loop(u, i));
  // A loop that fails ends the test through stop(); keep Node from reporting it unhandled meanwhile.
  for (const l of loops) l.catch(() => undefined);
  return {
    answered: () => ok + refused,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return { ok, refused, lastSeq: last };
    },
  };
}

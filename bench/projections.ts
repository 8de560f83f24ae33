/**
 * The `projections` suite (issue 3): how close natter's timeline projection comes to what
 * JetStream and PostgreSQL can do, on one private nats-server and a fresh PostgreSQL database.
 *
 *  0. load: N realistic MessagePosted events (valid envelope headers from encodeEvent, 1,000 rooms)
 *     published straight to CHAT_EVENTS with windowed js.publish;
 *  1. raw limit: an ordered consumer reading those events plus multi-row INSERTs (one transaction
 *     per batch of ~1,000 rows) into a table like the timeline's messages (same columns; by default
 *     also the same primary key and indexes, so that the difference measured is natter's);
 *  2. natter: the real timeline Projector catching up from 0 over the same events, timed from its
 *     start until its `applied` announcement reaches the last sequence;
 *  3. naive: one INSERT per event, each its own transaction, over a smaller count;
 *  4. the ratios natter/raw and natter/naive;
 *  5. a rebuild of the same N events (rebuildPg: a new schema beside the live one, checks, swap),
 *     and its ratio to the raw limit;
 *  6. projection lag while msg.post commands flow through the command service at a fixed rate
 *     (open loop): from each command's reply (and from its scheduled send) to the projector's
 *     `applied` announcement covering its sequence. The command service and the projector run in
 *     child processes there, so the bench client's timing does not share an event loop with them.
 */
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import pg from "pg";
import { pino } from "pino";
import type { CommandReply } from "../commands/index.ts";
import type { DomainEvent } from "../domain/index.ts";
import { appliedSubject, openDatabase, timelineProjection, type Database } from "../projections/index.ts";
import { prepareSchema, Projector, rebuildPg } from "../projections/internal.ts";
import { connectNats, encodeEvent, ensureEventStream, EVENT_STREAM } from "../streams/index.ts";
import {
  CpuGroups,
  createTempDatabase,
  fastUlid,
  fmt,
  ms,
  onInterrupt,
  openLoop,
  parseOptions,
  Phase,
  say,
  startChild,
  startTempNats,
  summarize,
  verdict,
  windowed,
  type Child,
  type Suite,
  type TempDatabase,
  type TempNats,
} from "./lib.ts";

const run = promisify(execFile);

/** Targets of issue 3. */
const TARGET_RAW_RATIO = 0.7;
const TARGET_NAIVE_RATIO = 10;
const TARGET_REBUILD_RATIO = 0.7;
const TARGET_LAG_P99_MS = 50;

const defaults = {
  /** Events published, then read by the raw, natter and rebuild phases. */
  events: 1_000_000,
  /** Rooms the events spread over. */
  rooms: 1000,
  /** Publishes in flight while loading. */
  window: 256,
  /** Rows per multi-row INSERT (one transaction each) in the raw phase. */
  batch: 1000,
  /** The raw table without the timeline's primary key and indexes (columns only). */
  rawPlain: false,
  /** Events the naive projector inserts, one transaction each. */
  naiveEvents: 20_000,
  /** The natter projector's batch size (0: natter's default). */
  projectorBatch: 0,
  /** Run the lag phase. */
  lag: true,
  /** Commands a second in the lag phase. */
  rate: 1000,
  /** Seconds measured in the lag phase, after lagWarmup seconds at the same rate. */
  duration: 10,
  lagWarmup: 2,
  /** Rooms and senders of the lag phase. */
  lagRooms: 100,
  senders: 16,
  /** The PostgreSQL server (a database natter_bench_<random> is created on it and dropped after). */
  databaseUrl: process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres",
  /** Write V8 CPU profiles of the lag phase's child processes (node --cpu-prof) into this folder. */
  cpuProf: "",
  /** Write this run's figures into bench/RESULTS.md (the section "Projections (issue 3)"). */
  record: false,
  /** Exit 1 when a target is missed. */
  strict: false,
};
type Options = typeof defaults;

const usage = `usage: npm run bench -- projections [options]

Measures, on a private nats-server (temporary folder) and a fresh PostgreSQL database
(natter_bench_<random>, dropped afterwards):
  0. loads N MessagePosted events straight into CHAT_EVENTS (${fmt(defaults.rooms)} rooms, windowed publish)
  1. raw limit: ordered consumer + multi-row INSERTs, one transaction per batch    events/s
  2. natter's timeline projector catching up from 0 over the same events          events/s
  3. a naive projector: one INSERT per event in its own transaction               events/s
  4. ratios natter/raw (target >= ${TARGET_RAW_RATIO}) and natter/naive (target >= ${TARGET_NAIVE_RATIO})
  5. a rebuild (rebuildPg) of the timeline over the N events: time, events/s,
     ratio to the raw limit                                                       target >= ${TARGET_REBUILD_RATIO}
  6. projection lag p50/p99 while msg.post commands flow at a fixed rate (open
     loop, command service and projector in child processes)                     target p99 <= ${TARGET_LAG_P99_MS} ms at 1,000/s

Options (defaults in brackets):
  --events N           events loaded and read by phases 1, 2 and 5 [${fmt(defaults.events)}]
                       (--events 100000 for a quick check)
  --rooms N            rooms the events spread over [${fmt(defaults.rooms)}]
  --window N           publishes in flight while loading [${defaults.window}]
  --batch N            rows per INSERT/transaction in the raw phase [${fmt(defaults.batch)}]
  --raw-plain          raw table with the columns only (no primary key or indexes)
  --naive-events N     events of the naive projector [${fmt(defaults.naiveEvents)}]
  --projector-batch N  natter projector batch size (0: natter's default) [${defaults.projectorBatch}]
  --lag=false          skip the lag phase
  --rate N             commands/s in the lag phase [${fmt(defaults.rate)}]
  --duration S         seconds measured in the lag phase [${defaults.duration}]
  --lag-warmup S       seconds at the rate before measuring [${defaults.lagWarmup}]
  --lag-rooms N        rooms the lag phase posts in [${defaults.lagRooms}]
  --senders N          users posting in the lag phase [${defaults.senders}]
  --cpu-prof DIR       CPU profiles of the lag phase's child processes (node --cpu-prof) into DIR
  --database-url URL   PostgreSQL server [DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres]
  --record             write the figures into bench/RESULTS.md ("Projections (issue 3)")
  --strict             exit 1 when a target is missed

Exit status: 0 the suite ran (each target PASS or MISS), 1 it failed (or --strict and a MISS), 2 usage.`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bodies of typical chat lengths. */
const BODIES = [
  "ok",
  "sounds good, see you at the standup",
  "did anyone look at the flaky test in the payments service? it failed twice this morning",
  "lunch?",
  "I pushed a fix for the login redirect, could someone review it before the release goes out this afternoon",
  "thanks!",
  "the dashboard is slow again; the p99 of the search endpoint went from 80 ms to 400 ms after yesterday's deploy, rolling back now",
  "+1",
];

const traceBytes = Buffer.alloc(24 * 4096);
let traceAt = traceBytes.length;
/**
 * A new sampled trace context (as childTrace() makes one), from pooled randomness: childTrace()
 * asks crypto twice per call, about 10 µs, a sixth of the loading phase's CPU.
 */
function newTrace(): { traceparent: string } {
  if (traceAt >= traceBytes.length) {
    randomFillSync(traceBytes);
    traceAt = 0;
  }
  const hex = traceBytes.toString("hex", traceAt, (traceAt += 24));
  return { traceparent: `00-${hex.slice(0, 32)}-${hex.slice(32, 48)}-01` };
}

/** The columns the raw and naive phases write: those a MessagePosted fills (the rest take defaults). */
const RAW_COLUMNS = [
  "room_id",
  "message_id",
  "seq",
  "author_id",
  "body",
  "thread_root_id",
  "posted_at",
  "updated_seq",
] as const;
type RawRow = (string | number | null)[];
type PostedPayload = { roomId: string; messageId: string; authorId: string; body: string; threadRootId?: string };

function rowOf(seq: number, timestampNanos: number, d: PostedPayload): RawRow {
  return [
    d.roomId,
    d.messageId,
    seq,
    d.authorId,
    d.body,
    d.threadRootId ?? null,
    new Date(Math.floor(timestampNanos / 1e6)).toISOString(),
    seq,
  ];
}

const insertTexts = new Map<string, string>();
/** `INSERT INTO table (cols) VALUES ($1, ...), (...)` for `rows` rows, cached. */
function insertText(table: string, rows: number): string {
  const k = `${table}/${rows}`;
  let t = insertTexts.get(k);
  if (t === undefined) {
    const n = RAW_COLUMNS.length;
    const tuples = Array.from(
      { length: rows },
      (_, r) => `(${Array.from({ length: n }, (_, c) => `$${r * n + c + 1}`).join(",")})`,
    );
    t = `INSERT INTO ${table} (${RAW_COLUMNS.join(",")}) VALUES ${tuples.join(",")}`;
    insertTexts.set(k, t);
  }
  return t;
}

/**
 * Reads the message events from `fromSeq` to `untilSeq` with an ordered consumer (no decoding
 * beyond JSON.parse), handing over batches of at most `batch` rows; waits for each `onBatch`.
 */
async function readRaw(
  nc: NatsConnection,
  fromSeq: number,
  untilSeq: number,
  batch: number,
  onBatch: (rows: RawRow[], lastSeq: number) => Promise<void>,
): Promise<void> {
  const consumer = await jetstream(nc).consumers.get(EVENT_STREAM, {
    filter_subjects: ["ev.msg.>"],
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
  });
  const messages = await consumer.consume({ max_messages: Math.max(batch * 2, 256) });
  let rows: RawRow[] = [];
  try {
    for await (const m of messages) {
      rows.push(rowOf(m.seq, m.info.timestampNanos, m.json<PostedPayload>()));
      const done = m.seq >= untilSeq;
      if (done || rows.length >= batch) {
        const b = rows;
        rows = [];
        await onBatch(b, m.seq);
      }
      if (done) break;
    }
  } finally {
    messages.stop();
  }
}

/** Waits until a command service answers on `cmd.>` (an invalid command: nothing is appended). */
async function waitForService(nc: NatsConnection, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await nc.request("cmd.bench-probe.room.join", "{}", { timeout: 1000 });
      return;
    } catch (err) {
      if (Date.now() > until)
        throw new Error(`the command service did not answer within ${timeoutMs / 1000} s: ${String(err)}`, {
          cause: err,
        });
      await sleep(200);
    }
  }
}

async function send(
  nc: NatsConnection,
  userId: string,
  action: string,
  body: Record<string, unknown>,
): Promise<CommandReply> {
  const m = await nc.request(`cmd.${userId}.${action}`, JSON.stringify({ commandId: fastUlid(), ...body }), {
    timeout: 10_000,
  });
  return m.json<CommandReply>();
}

/** The figures of one run. */
type Results = {
  events: number;
  loadRate: number;
  raw: { rate: number; seconds: number; table: string };
  natter: { rate: number; seconds: number; batch: string; transactions: number };
  naive: { rate: number; seconds: number; events: number };
  rebuild: { rate: number; seconds: number; buildSeconds: number };
  lag?: {
    fromReply: ReturnType<typeof summarize>;
    fromSend: ReturnType<typeof summarize>;
    commands: ReturnType<typeof summarize>;
    achieved: number;
    errors: number;
    perSecond: number[];
  };
  cpu: Record<string, string>;
};

/** The `projections` suite. */
export const projectionsSuite: Suite = {
  about: "raw limit vs natter's timeline projector vs a naive one, a 1M-event rebuild, lag at 1,000 commands/s",
  usage,
  async run(args) {
    const o: Options = parseOptions(args, defaults);
    o.events = Math.floor(o.events);
    if (
      o.events < 1000 ||
      o.rooms < 1 ||
      o.window < 1 ||
      o.batch < 1 ||
      o.batch > 8000 ||
      o.naiveEvents < 1 ||
      o.rate < 1 ||
      o.duration <= 0 ||
      o.lagRooms < 1 ||
      o.senders < 1
    ) {
      console.error(
        "error: --events must be at least 1,000; --rooms, --window, --naive-events, --rate, --duration, --lag-rooms and --senders at least 1; --batch between 1 and 8,000",
      );
      return 2;
    }
    const naiveCount = Math.min(o.naiveEvents, o.events);

    let server: TempNats | undefined;
    let nc: NatsConnection | undefined;
    let database: Database | undefined;
    let pgc: pg.Client | undefined;
    let tempDb: TempDatabase | undefined;
    let projector: Projector | undefined;
    const children: Child[] = [];
    const cleanup = async (): Promise<void> => {
      await projector?.stop().catch(() => undefined);
      for (const c of children) await c.stop().catch(() => undefined);
      await pgc?.end().catch(() => undefined);
      await database?.close().catch(() => undefined);
      await nc?.close().catch(() => undefined);
      await server?.stop().catch((err: unknown) => console.error(`stopping nats-server: ${String(err)}`));
      await tempDb
        ?.drop()
        .catch((err: unknown) => console.error(`dropping the database ${tempDb?.name}: ${String(err)}`));
    };
    const removeInterrupt = onInterrupt(cleanup);
    try {
      // The machine and the servers.
      server = await startTempNats();
      tempDb = await createTempDatabase(o.databaseUrl);
      const { name: dbName, url: dbUrl, serverVersion: pgVersion } = tempDb;
      database = await openDatabase({ url: dbUrl });
      const db = database.db;
      pgc = new pg.Client({ connectionString: dbUrl });
      await pgc.connect();
      const client = pgc;
      const uptime = async (): Promise<string> =>
        (
          await run("uptime").catch(() => ({
            stdout: `load average ${loadavg()
              .map((l) => l.toFixed(2))
              .join(", ")}`,
          }))
        ).stdout.trim();
      const machine = {
        cores: cpus().length,
        memory: `${fmt(totalmem() / 2 ** 30, 1)} GiB`,
        node: process.version,
        nats: server.version,
        postgres: pgVersion,
        uptimeBefore: await uptime(),
        uptimeAfter: "",
        date: new Date().toISOString(),
      };
      say(`nats-server ${machine.nats} at ${server.url}, store ${server.dir}`);
      say(
        `PostgreSQL ${pgVersion}, database ${dbName}; node ${machine.node}, ${machine.cores} cores, ${machine.memory}`,
      );
      say(`uptime: ${machine.uptimeBefore}`);

      nc = await connectNats(server.url, { name: "natter-bench" });
      await ensureEventStream(nc);
      // Tables: natter's timeline (checkpoint 0) and, like its messages table, the raw and naive ones.
      await prepareSchema(db, timelineProjection, timelineProjection.liveSchema);
      const like = o.rawPlain ? "INCLUDING DEFAULTS" : "INCLUDING ALL";
      await client.query("CREATE SCHEMA bench");
      await client.query(`CREATE TABLE bench.raw_messages (LIKE natter_timeline.messages ${like})`);
      await client.query(`CREATE TABLE bench.naive_messages (LIKE natter_timeline.messages INCLUDING ALL)`);
      const backends = async (): Promise<number[]> =>
        (
          await client.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
          )
        ).rows.map((r) => r.pid);
      const clientBackend = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const cpuIn = new CpuGroups({
        "nats-server": async () => [server!.process.pid],
        postgres: async () => [...(await backends()), clientBackend],
        bench: async () => [process.pid],
      });
      const cpu: Record<string, string> = {};
      const N = o.events;

      // 0. Load the events.
      const js = jetstream(nc, { timeout: 30_000 });
      const roomIds = Array.from({ length: o.rooms }, () => fastUlid());
      const authors = Array.from({ length: 200 }, (_, i) => `user-${String(i).padStart(3, "0")}`);
      await cpuIn.start();
      const load = new Phase(
        `load: publish MessagePosted to ${EVENT_STREAM} (window ${o.window}, ${fmt(o.rooms)} rooms)`,
        N,
      );
      let loadError: unknown;
      await windowed(N, o.window, async (i) => {
        if (loadError !== undefined) return;
        const authorId = authors[(i * 7919) % authors.length]!;
        const event = {
          type: "MessagePosted",
          data: {
            roomId: roomIds[i % o.rooms]!,
            messageId: fastUlid(),
            authorId,
            body: BODIES[i % BODIES.length]!,
            mentions: [],
          },
        } as unknown as DomainEvent;
        const commandId = fastUlid();
        const e = encodeEvent(event, {
          actor: authorId,
          commandId,
          correlationId: commandId,
          causationId: commandId,
          trace: newTrace(),
        });
        try {
          await js.publish(e.subject, e.payload, { headers: e.headers, msgID: e.msgId, timeout: 30_000 });
          load.done++;
        } catch (err) {
          load.errors++;
          loadError = err;
        }
      });
      const loadSeconds = load.end(await cpuIn.report(N));
      if (loadError !== undefined) throw new Error(`loading failed: ${String(loadError)}`, { cause: loadError });
      const info = await (await jetstreamManager(nc)).streams.info(EVENT_STREAM);
      const lastSeq = info.state.last_seq;
      if (info.state.messages !== N || lastSeq !== N)
        throw new Error(`${EVENT_STREAM} holds ${info.state.messages} events up to ${lastSeq}, expected ${N}`);
      say(`${EVENT_STREAM}: ${fmt(info.state.messages)} events, ${fmt(info.state.bytes / 1e6, 1)} MB`);
      const countRows = async (table: string): Promise<number> =>
        Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

      // 1. The raw limit.
      await cpuIn.start();
      const raw = new Phase(
        `1. raw: ordered consumer + INSERT of ${fmt(o.batch)} rows per transaction (${o.rawPlain ? "columns only" : "primary key and indexes like the timeline's"})`,
        N,
      );
      await readRaw(nc, 1, lastSeq, o.batch, async (rows) => {
        await client.query("BEGIN");
        await client.query(insertText("bench.raw_messages", rows.length), rows.flat());
        await client.query("COMMIT");
        raw.done += rows.length;
      });
      const rawSeconds = raw.end((cpu["raw"] = await cpuIn.report(N)));
      const rawRows = await countRows("bench.raw_messages");
      if (rawRows !== N) throw new Error(`raw phase: ${rawRows} rows, expected ${N}`);
      const rawRate = N / rawSeconds;

      // 2. natter's timeline projector, catching up from 0.
      let appliedSeq = 0;
      let announcements = 0;
      const appliedSub = nc.subscribe(appliedSubject(timelineProjection.name), {
        callback: (_err, m) => {
          const a = m.json<{ seq: number }>();
          announcements++;
          if (a.seq > appliedSeq) appliedSeq = a.seq;
        },
      });
      await nc.flush();
      const batchLabel = o.projectorBatch > 0 ? `batch ${o.projectorBatch}` : "natter's default batch";
      const natterPhase = new Phase(
        `2. natter: timeline Projector catching up from 0 (in the bench process, ${batchLabel})`,
        N,
      );
      const log = pino({ level: "warn" }, pino.destination({ dest: 2, sync: true }));
      await cpuIn.start();
      const natterStart = performance.now();
      projector = new Projector(nc, timelineProjection, {
        log,
        db,
        ...(o.projectorBatch > 0 ? { batchSize: o.projectorBatch } : {}),
      });
      projector.start();
      let lastProgress = performance.now();
      let seen = 0;
      while (appliedSeq < lastSeq) {
        await sleep(5);
        natterPhase.done = appliedSeq;
        if (appliedSeq !== seen) {
          seen = appliedSeq;
          lastProgress = performance.now();
        }
        if (projector.status === "stopped" || projector.status === "halted")
          throw new Error(`the projector ${projector.status} at ${appliedSeq}`);
        if (performance.now() - lastProgress > 60_000)
          throw new Error(`the projector made no progress for 60 s (at ${appliedSeq} of ${lastSeq})`);
      }
      const natterSeconds = (performance.now() - natterStart) / 1000;
      natterPhase.done = appliedSeq;
      natterPhase.end(`${fmt(announcements)} transactions, ${(cpu["natter"] = await cpuIn.report(N))}`);
      await projector.stop();
      projector = undefined;
      appliedSub.unsubscribe();
      const natterRows = await countRows("natter_timeline.messages");
      if (natterRows !== N)
        throw new Error(`natter phase: ${natterRows} rows in natter_timeline.messages, expected ${N}`);
      const natterRate = N / natterSeconds;

      // 3. The naive projector.
      const statement = insertText("bench.naive_messages", 1);
      await cpuIn.start();
      const naive = new Phase("3. naive: one INSERT per event, each its own transaction", naiveCount);
      await readRaw(nc, 1, naiveCount, 1, async (rows) => {
        await client.query({ name: "naive_insert", text: statement, values: rows[0]! });
        naive.done++;
      });
      const naiveSeconds = naive.end((cpu["naive"] = await cpuIn.report(naiveCount)));
      const naiveRows = await countRows("bench.naive_messages");
      if (naiveRows !== naiveCount) throw new Error(`naive phase: ${naiveRows} rows, expected ${naiveCount}`);
      const naiveRate = naiveCount / naiveSeconds;

      // 5. A rebuild of the timeline over the same events.
      await cpuIn.start();
      const rb = new Phase(`5. rebuild: rebuildPg of the timeline (${fmt(N)} events)`, N);
      let lastBuilding = performance.now();
      const rbStart = performance.now();
      const result = await rebuildPg(
        {
          nc,
          db,
          progress: (p) => {
            if (p.phase === "building") {
              rb.done = p.applied;
              lastBuilding = performance.now();
            }
          },
        },
        timelineProjection,
      );
      const rebuildSeconds = (performance.now() - rbStart) / 1000;
      const buildSeconds = (lastBuilding - rbStart) / 1000;
      rb.done = result.applied;
      rb.end(
        `build ${buildSeconds.toFixed(2)} s, pause + checks + swap ${(rebuildSeconds - buildSeconds).toFixed(2)} s; ${(cpu["rebuild"] = await cpuIn.report(N))}`,
      );
      const rebuiltRows = await countRows("natter_timeline.messages");
      if (result.applied !== N || result.seq !== lastSeq || rebuiltRows !== N)
        throw new Error(`rebuild: applied ${result.applied} up to ${result.seq}, ${rebuiltRows} rows; expected ${N}`);
      const rebuildRate = N / rebuildSeconds;

      // 6. Lag while commands flow.
      let lag: Results["lag"];
      if (o.lag) {
        const prof = o.cpuProf || undefined;
        const service = startChild(
          "service",
          ["app/service.ts", "commands"],
          { NATS_URL: server.url, NATTER_RATE_LIMIT: "off", LOG_LEVEL: "warn" },
          prof,
        );
        children.push(service);
        const projectorChild = startChild(
          "projector",
          ["bench/projectorProcess.ts"],
          {
            NATS_URL: server.url,
            DATABASE_URL: dbUrl,
            ...(o.projectorBatch > 0 ? { NATTER_BENCH_BATCH: String(o.projectorBatch) } : {}),
          },
          prof,
        );
        children.push(projectorChild);
        await projectorChild.waitForLine((l) => l === "active", 60_000);
        await waitForService(nc);
        say(
          `command service (pid ${service.pid}) and timeline projector (pid ${projectorChild.pid}) running in child processes`,
        );

        // Rooms, and senders joined to the rooms they post in.
        const lagRooms = Array.from({ length: o.lagRooms }, (_, i) => `lag-room-${String(i).padStart(4, "0")}`);
        const senders = Array.from({ length: o.senders }, (_, i) => `poster-${String(i).padStart(2, "0")}`);
        const groups = Math.max(1, Math.floor(o.senders / Math.min(4, o.senders)));
        const senderRooms = senders.map((_, s) => lagRooms.filter((_, r) => r % groups === s % groups));
        if (senderRooms.some((r) => r.length === 0)) throw new Error("--lag-rooms is too small for --senders");
        let setupErrors = 0;
        const setup = new Phase(
          "6. setup: room.create and room.join",
          o.lagRooms + senderRooms.reduce((n, r) => n + r.length, 0),
        );
        await windowed(o.lagRooms, 16, async (i) => {
          const r = await send(nc!, "lag-owner", "room.create", {
            name: `lag ${i}`,
            kind: "public",
            roomId: lagRooms[i],
          });
          if (r.ok) setup.done++;
          else setupErrors++;
        });
        const joins = senderRooms.flatMap((rooms, s) => rooms.map((room) => [senders[s]!, room] as const));
        await windowed(joins.length, 16, async (i) => {
          const [user, roomId] = joins[i]!;
          const r = await send(nc!, user, "room.join", { roomId });
          if (r.ok) setup.done++;
          else setupErrors++;
        });
        setup.end();
        if (setupErrors > 0) throw new Error(`lag setup: ${setupErrors} commands failed`);

        // The applied announcements, as (seq, time) with growing seq.
        const appliedLog: { seq: number; t: number }[] = [];
        let maxApplied = 0;
        let lagAnnouncements = 0;
        let maxPending = 0;
        const sub = nc.subscribe(appliedSubject(timelineProjection.name), {
          callback: (_err, m) => {
            const t = performance.now();
            const a = m.json<{ seq: number; pending: number }>();
            lagAnnouncements++;
            maxPending = Math.max(maxPending, a.pending);
            if (a.seq > maxApplied) {
              maxApplied = a.seq;
              appliedLog.push({ seq: a.seq, t });
            }
          },
        });
        await nc.flush();

        const cpuLag = new CpuGroups({
          "nats-server": async () => [server!.process.pid],
          service: async () => [service.pid],
          projector: async () => [projectorChild.pid],
          postgres: backends,
          bench: async () => [process.pid],
        });
        const warmCount = Math.round(o.lagWarmup * o.rate);
        const total = warmCount + Math.round(o.duration * o.rate);
        const sent: { scheduled: number; replied: number; seq: number }[] = [];
        let errors = 0;
        let errorText = "";
        const steady = new Phase(
          `6. lag: msg.post at ${fmt(o.rate)}/s open loop (${o.lagWarmup} s warm-up + ${o.duration} s), ${o.senders} senders, ${fmt(o.lagRooms)} rooms`,
          total,
        );
        await cpuLag.start();
        const { maxLateMs: maxBehind } = await openLoop(o.rate, total, async (k, scheduled) => {
          const s = k % o.senders;
          const rooms = senderRooms[s]!;
          const roomId = rooms[Math.floor(k / o.senders) % rooms.length]!;
          await send(nc!, senders[s]!, "msg.post", { roomId, body: BODIES[k % BODIES.length] }).then(
            (reply) => {
              const replied = performance.now();
              if (reply.ok) {
                steady.done++;
                if (k >= warmCount) sent.push({ scheduled, replied, seq: reply.seq });
              } else {
                errors++;
                steady.errors++;
                errorText ||= `${reply.error.code}: ${reply.error.message}`;
              }
            },
            (err: unknown) => {
              errors++;
              steady.errors++;
              errorText ||= String(err);
            },
          );
        });
        const steadyElapsed = steady.elapsed;
        // Wait for the projector to cover the last command.
        const lastCommandSeq = Math.max(0, ...sent.map((x) => x.seq));
        const waitUntil = performance.now() + 30_000;
        while (maxApplied < lastCommandSeq && performance.now() < waitUntil) await sleep(5);
        steady.end(
          `sends up to ${ms(maxBehind)} late; projector: ${fmt(lagAnnouncements)} transactions, ${fmt(total / Math.max(1, lagAnnouncements), 1)} events each, at most ${fmt(maxPending)} pending; ${(cpu["lag"] = await cpuLag.report(total))}`,
        );
        sub.unsubscribe();
        if (errors > 0) say(`  ${fmt(errors)} commands failed, e.g. ${errorText}`);
        if (maxApplied < lastCommandSeq)
          throw new Error(`the projector did not apply ${lastCommandSeq} within 30 s (at ${maxApplied})`);

        // Lag of each measured command: the first announcement covering its sequence.
        const fromReply: number[] = [];
        const fromSend: number[] = [];
        const commandLatency: number[] = [];
        const perSecond: number[][] = Array.from({ length: Math.ceil(o.duration) }, () => []);
        const firstMeasured = sent.length ? Math.min(...sent.map((x) => x.scheduled)) : 0;
        for (const c of sent) {
          let lo = 0;
          let hi = appliedLog.length - 1;
          while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (appliedLog[mid]!.seq >= c.seq) hi = mid;
            else lo = mid + 1;
          }
          const a = appliedLog[lo]!;
          const l = Math.max(0, a.t - c.replied);
          fromReply.push(l);
          fromSend.push(a.t - c.scheduled);
          commandLatency.push(c.replied - c.scheduled);
          perSecond[Math.min(perSecond.length - 1, Math.floor((c.scheduled - firstMeasured) / 1000))]!.push(l);
        }
        lag = {
          fromReply: summarize(fromReply),
          fromSend: summarize(fromSend),
          commands: summarize(commandLatency),
          achieved: steady.done / steadyElapsed,
          errors,
          perSecond: perSecond.map((x) => summarize(x).p99),
        };
        say(`  lag p99 per second (from reply): ${lag.perSecond.map((v) => v.toFixed(1)).join(" ")} ms`);
        for (const c of children.splice(0)) await c.stop();
      }

      machine.uptimeAfter = await uptime();
      const results: Results = {
        events: N,
        loadRate: N / loadSeconds,
        raw: {
          rate: rawRate,
          seconds: rawSeconds,
          table: o.rawPlain ? "columns only" : "same primary key and indexes as natter_timeline.messages",
        },
        natter: {
          rate: natterRate,
          seconds: natterSeconds,
          batch: o.projectorBatch > 0 ? String(o.projectorBatch) : "default",
          transactions: announcements,
        },
        naive: { rate: naiveRate, seconds: naiveSeconds, events: naiveCount },
        rebuild: { rate: rebuildRate, seconds: rebuildSeconds, buildSeconds },
        ...(lag ? { lag } : {}),
        cpu,
      };
      const lines = report(results, o);
      console.log("");
      if (CpuGroups.worstOthers > 0.15) {
        console.log(
          `WARNING: other processes used up to ${Math.round(CpuGroups.worstOthers * 100)}% of one core during a measured phase ` +
            `(${machine.cores} cores): these figures are disturbed; run again on a quiet machine.`,
        );
      }
      console.log(
        `results (${fmt(N)} events, ${fmt(o.rooms)} rooms; nats-server ${machine.nats}; PostgreSQL ${machine.postgres}; node ${machine.node}; ${machine.cores} cores)`,
      );
      for (const l of lines.text) console.log(l);
      console.log(`uptime before: ${machine.uptimeBefore}`);
      console.log(`uptime after:  ${machine.uptimeAfter}`);
      if (o.record) {
        const file = resolve(import.meta.dirname, "RESULTS.md");
        await recordResults(file, markdown(results, machine, lines.text));
        say(`figures written to ${file}`);
      }
      return o.strict && !lines.allPass ? 1 : 0;
    } finally {
      await cleanup();
      removeInterrupt();
    }
  },
};

/** The result lines and whether every target passed. */
function report(r: Results, o: Options): { text: string[]; allPass: boolean } {
  const rawRatio = r.natter.rate / r.raw.rate;
  const naiveRatio = r.natter.rate / r.naive.rate;
  const rebuildRatio = r.rebuild.rate / r.raw.rate;
  const ok = {
    raw: rawRatio >= TARGET_RAW_RATIO,
    naive: naiveRatio >= TARGET_NAIVE_RATIO,
    rebuild: rebuildRatio >= TARGET_REBUILD_RATIO,
    lag: r.lag !== undefined && r.lag.fromReply.p99 <= TARGET_LAG_P99_MS && o.rate >= 1000 && r.lag.errors === 0,
  };
  const text = [
    `  0. load: ${fmt(r.events)} MessagePosted published at ${fmt(r.loadRate)} events/s`,
    `  1. raw limit, ordered consumer + ${fmt(o.batch)}-row INSERT per transaction (${r.raw.table}): ${fmt(r.raw.rate)} events/s (${r.raw.seconds.toFixed(2)} s)`,
    `  2. natter timeline Projector from 0 (${r.natter.batch === "default" ? "default batch" : `batch ${r.natter.batch}`}, ${fmt(r.natter.transactions)} transactions): ${fmt(r.natter.rate)} events/s (${r.natter.seconds.toFixed(2)} s)`,
    `  3. naive, one INSERT per event in its own transaction (${fmt(r.naive.events)} events): ${fmt(r.naive.rate)} events/s (${r.naive.seconds.toFixed(2)} s)`,
    `  4. natter/raw ${rawRatio.toFixed(3)}   target >= ${TARGET_RAW_RATIO}   ${verdict(ok.raw)}`,
    `     natter/naive ${naiveRatio.toFixed(1)}   target >= ${TARGET_NAIVE_RATIO}   ${verdict(ok.naive)}   (raw/naive ${(r.raw.rate / r.naive.rate).toFixed(1)}: a projector that writes no faster than the raw limit reaches at most this)`,
    `  5. rebuild of ${fmt(r.events)} events: ${r.rebuild.seconds.toFixed(2)} s (build ${r.rebuild.buildSeconds.toFixed(2)} s), ${fmt(r.rebuild.rate)} events/s, ` +
      `ratio to raw ${rebuildRatio.toFixed(3)}   target >= ${TARGET_REBUILD_RATIO}   ${verdict(ok.rebuild)}`,
  ];
  if (r.lag) {
    const l = r.lag;
    text.push(
      `  6. lag at ${fmt(o.rate)} commands/s open loop (${fmt(l.fromReply.count)} commands, achieved ${fmt(l.achieved)}/s${l.errors ? `, ${l.errors} errors` : ""}), reply -> applied: ` +
        `p50 ${ms(l.fromReply.p50)}, p99 ${ms(l.fromReply.p99)}, max ${ms(l.fromReply.max)}   target p99 <= ${TARGET_LAG_P99_MS} ms   ${verdict(ok.lag)}`,
      `     send -> applied p50 ${ms(l.fromSend.p50)}, p99 ${ms(l.fromSend.p99)}; command send -> reply p50 ${ms(l.commands.p50)}, p99 ${ms(l.commands.p99)}`,
    );
  } else text.push("  6. lag: skipped (--lag=false)   MISS");
  return { text, allPass: ok.raw && ok.naive && ok.rebuild && ok.lag };
}

const SECTION = "## Projections (issue 3)";

function markdown(r: Results, m: Record<string, string | number>, lines: string[]): string {
  return [
    SECTION,
    "",
    `Run ${m["date"]} with \`npm run bench -- projections${process.argv
      .slice(3)
      .filter((a) => a !== "--record")
      .map((a) => ` ${a}`)
      .join("")}\`.`,
    "",
    `Machine: ${m["cores"]} cores (nproc), ${m["memory"]} memory, node ${m["node"]}, nats-server ${m["nats"]}, PostgreSQL ${m["postgres"]}.`,
    "",
    `Load: before the run \`${m["uptimeBefore"]}\`; after it \`${m["uptimeAfter"]}\`; other processes used up to ${Math.round(CpuGroups.worstOthers * 100)}% of one core during a measured phase.`,
    "",
    "```",
    ...lines,
    "```",
    "",
    "CPU per phase (share of one core):",
    "",
    ...Object.entries(r.cpu).map(([k, v]) => `- ${k}: ${v}`),
    "",
  ].join("\n");
}

/**
 * Replaces the section in `file` (from its heading line to the next `## ` heading, so a following
 * section such as the findings stays), or appends it; creates the file.
 */
async function recordResults(file: string, section: string): Promise<void> {
  let text = await readFile(file, "utf8").catch(() => "# Benchmark results\n");
  const start = text.startsWith(`${SECTION}\n`) ? 0 : text.indexOf(`\n${SECTION}\n`) + 1;
  if (start > 0 || text.startsWith(`${SECTION}\n`)) {
    const next = text.indexOf("\n## ", start + SECTION.length);
    text = `${text.slice(0, start)}${section.trimEnd()}\n${next >= 0 ? `\n${text.slice(next + 1)}` : ""}`;
  } else text = `${text.trimEnd()}\n\n${section}`;
  await writeFile(file, text.endsWith("\n") ? text : `${text}\n`);
}

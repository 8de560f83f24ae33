/**
 * The replay CLI: `npm run replay -- <command> [options]`. Rebuilds and verifies projections from
 * the log, answers audit questions, inspects the stream, and handles parked events.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { ConfigError } from "../config.ts";
import {
  auditFromLog,
  auditFromReadModel,
  consumerName,
  openCheckpointBucket,
  Lease,
  leaseKey,
  listParked,
  openLockBucket,
  PROJECTIONS,
  projectionNamed,
  readCheckpoint,
  rebuild,
  resolveFailures,
  verify,
  type AuditFilter,
  type MaintenanceProgress,
  type PgProjection,
  type Projection,
} from "../projections/index.ts";
import { checkEventStream, EVENT_STREAM } from "../streams/index.ts";
import { CliContext, UsageError } from "./context.ts";
import { renderRows, type Format } from "./output.ts";

const formatOption = () => new Option("--format <format>", "how rows are printed").choices(["table", "json", "csv"]).default("table");

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Runs a command's body with a context, closing it after; errors become a one-line reason and an exit status. */
async function run(body: (ctx: CliContext) => Promise<number | void>): Promise<void> {
  let ctx: CliContext | undefined;
  let code = 0;
  try {
    ctx = new CliContext();
    code = (await body(ctx)) ?? 0;
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof ConfigError;
    process.stderr.write(`error: ${(err as Error).message.split("\n").join("\n  ")}\n`);
    code = usage ? 2 : 1;
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  process.exit(code);
}

function projectionsFor(name: string): Projection[] {
  if (name === "all") return [...PROJECTIONS.values()];
  try {
    return [projectionNamed(name)];
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A progress bar on stderr: events applied of those known, events/s and an ETA. */
function progressBar(label: string, enabled: boolean): { update(p: MaintenanceProgress): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {phase} |{bar}| {value}/{total} events | {speed} ev/s | ETA {etaText}`,
      stream: process.stderr,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let applied = 0;
  bar.start(1, 0, { phase: "starting", speed: 0, etaText: "-" });
  return {
    update(p) {
      applied = Math.max(applied, p.applied);
      const speed = applied / Math.max(0.001, (Date.now() - started) / 1000);
      const eta = p.pending === 0 ? "0s" : speed > 0 ? `${Math.ceil(p.pending / speed)}s` : "-";
      bar.setTotal(Math.max(1, applied + p.pending));
      bar.update(applied, { phase: p.phase, speed: Math.round(speed), etaText: eta });
    },
    stop() {
      bar.stop();
    },
  };
}

function parseDate(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`"${value}" is not a date or time (ISO 8601, e.g. 2026-11-26T12:00:00Z)`);
  return d;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

const program = new Command()
  .name("npm run replay --")
  .description("natter's replay tool: rebuild and verify read models from the event log, audit it, inspect the stream, handle parked events")
  // A usage error is one line (DESIGN.md: a one-line reason), with where to find the usage.
  .configureOutput({ outputError: (text, write) => write(`${text.trim().split("\n").join(" ")} (see --help)\n`) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command("list")
  .description("the projections, each with its version, checkpoint, lag, parked failures and state (ok, parked, halted)")
  .addOption(formatOption())
  .action((opts: { format: Format }) =>
    run(async (ctx) => {
      const nc = await ctx.nats();
      const jsm = await jetstreamManager(nc);
      const locks = await openLockBucket(nc, ctx.config.projectionLeaseMs, { replicas: ctx.config.streamReplicas });
      const rows: Record<string, unknown>[] = [];
      for (const p of PROJECTIONS.values()) {
        let version: string = `${p.version}`;
        let checkpoint: number | string = "-";
        let parked: number | string = "-";
        let state = "ok";
        if (p.kind === "pg") {
          const db = (await ctx.db()).db;
          const cp = await readCheckpoint(db, p.liveSchema, p.name);
          if (cp !== null) {
            version = cp.version === p.version ? `${p.version}` : `${cp.version} (code ${p.version}: rebuild)`;
            checkpoint = cp.seq;
            const rows = await listParked(db, p.liveSchema);
            parked = rows.length;
            // What /healthz says of it too: an operator acts on either (replay failures).
            state = rows.some((r) => r.status === "halted") ? "halted" : rows.length > 0 ? "parked" : "ok";
          }
        } else {
          const e = await (await openCheckpointBucket(nc, ctx.config.streamReplicas)).get(p.name);
          checkpoint = e?.operation === "PUT" ? Number(e.string()) : 0;
        }
        const info = await jsm.consumers.info(EVENT_STREAM, consumerName(p.name)).catch(() => null);
        const lag = info === null ? "-" : info.num_pending + info.num_ack_pending;
        const active = (await Lease.holder(locks, leaseKey(p.name))) ?? "none";
        rows.push({ projection: p.name, kind: p.kind, version, checkpoint, lag, parked, state, active });
      }
      out(renderRows(rows, opts.format, ["projection", "kind", "version", "checkpoint", "lag", "parked", "state", "active"]));
    }),
  );

program
  .command("rebuild")
  .description("build a projection from the start of the log beside the live one, catch up, check, then swap it in (resumable)")
  .argument("<projection>", `one of ${[...PROJECTIONS.keys()].join(", ")}, or all`)
  .option("--keep-old", "keep the replaced schema as <schema>__old")
  .option("--no-progress", "no progress bar")
  .addOption(formatOption())
  .action((name: string, opts: { keepOld?: boolean; progress: boolean; format: Format }) =>
    run(async (ctx) => {
      const rows: Record<string, unknown>[] = [];
      for (const p of projectionsFor(name)) {
        const nc = await ctx.nats();
        const db = p.kind === "pg" ? (await ctx.db()).db : undefined;
        // Say so when an earlier run left a build behind: this run goes on from where it stopped.
        const left = p.kind === "pg" ? await readCheckpoint(db!, `${p.liveSchema}__next`, p.name) : null;
        if (left !== null && left.version === p.version && left.seq > 0) process.stderr.write(`${p.name}: resuming the build an earlier run left at seq ${left.seq}\n`);
        const bar = progressBar(p.name, opts.progress);
        try {
          const r = await rebuild({ ...ctx.maintenance(nc, db), progress: (x) => bar.update(x) }, p, { keepOld: opts.keepOld });
          bar.stop();
          rows.push({ projection: r.projection, applied: r.applied, seq: r.seq, seconds: (r.ms / 1000).toFixed(1), eventsPerSecond: Math.round(r.applied / Math.max(0.001, r.ms / 1000)) });
        } finally {
          bar.stop();
        }
      }
      out(renderRows(rows, opts.format));
    }),
  );

program
  .command("verify")
  .description("rebuild into a scratch copy and compare it with the live one; prints each difference; exit 1 if any")
  .argument("<projection>", `one of ${[...PROJECTIONS.keys()].join(", ")}, or all`)
  .option("--no-progress", "no progress bar")
  .addOption(formatOption())
  .action((name: string, opts: { progress: boolean; format: Format }) =>
    run(async (ctx) => {
      const diffs: Record<string, unknown>[] = [];
      for (const p of projectionsFor(name)) {
        const nc = await ctx.nats();
        const db = p.kind === "pg" ? (await ctx.db()).db : undefined;
        const bar = progressBar(`verify ${p.name}`, opts.progress);
        try {
          for (const d of await verify({ ...ctx.maintenance(nc, db), progress: (x) => bar.update(x) }, p)) diffs.push({ ...d });
        } finally {
          bar.stop();
        }
      }
      if (diffs.length === 0) {
        process.stderr.write(`verify: no differences (${name})\n`);
        return 0;
      }
      out(renderRows(diffs, opts.format, ["projection", "table", "side", "row"]));
      process.stderr.write(`verify: ${diffs.length} difference(s)\n`);
      return 1;
    }),
  );

program
  .command("audit")
  .description("events filtered by actor, room, type, aggregate, correlation and time; from the audit read model, or --from-log")
  .option("--actor <userId>", "who acted")
  .option("--room <roomId>", "the room's own events and its messages' events")
  .option("--type <type>", "an event type, e.g. MessageDeleted")
  .option("--aggregate <subject>", "one aggregate: ev.room.<id>, ev.msg.<room>.<msg>, ev.user.<id>")
  .option("--correlation <id>", "everything one user action set off")
  .option("--since <time>", "at or after (ISO 8601)", parseDate)
  .option("--until <time>", "at or before (ISO 8601)", parseDate)
  .option("--limit <n>", "at most n rows", parsePositive, 1000)
  .option("--from-log", "read the stream itself instead of the read model")
  .addOption(formatOption())
  .action((opts: AuditFilter & { fromLog?: boolean; format: Format }) =>
    run(async (ctx) => {
      const filter: AuditFilter = { actor: opts.actor, room: opts.room, type: opts.type, aggregate: opts.aggregate, correlation: opts.correlation, since: opts.since, until: opts.until, limit: opts.limit };
      for (const k of Object.keys(filter) as (keyof AuditFilter)[]) if (filter[k] === undefined) delete filter[k];
      const rows = opts.fromLog ? await auditFromLog(await ctx.nats(), filter) : await auditFromReadModel((await ctx.db()).db, filter);
      out(renderRows(rows, opts.format, ["seq", "time", "type", "actor", "subject", "roomId", "commandId", "correlationId", "causationId", "payload"]));
    }),
  );

program
  .command("inspect")
  .description("the stream's state, its configuration checks (deny_delete, deny_purge, replicas) and its consumers")
  .addOption(formatOption())
  .action((opts: { format: Format }) =>
    run(async (ctx) => {
      const jsm = await jetstreamManager(await ctx.nats());
      const info = await jsm.streams.info(EVENT_STREAM).catch(() => null);
      if (info === null) throw new Error(`stream ${EVENT_STREAM} does not exist: start natter (or npm run service -- commands) to create it`);
      const { problems, warnings } = checkEventStream(info);
      const c = info.config;
      const checks = [
        { check: "deny_delete", value: c.deny_delete, status: c.deny_delete ? "ok" : "PROBLEM" },
        { check: "deny_purge", value: c.deny_purge, status: c.deny_purge ? "ok" : "PROBLEM" },
        { check: "allow_direct", value: c.allow_direct, status: c.allow_direct ? "ok" : "PROBLEM" },
        { check: "replicas", value: c.num_replicas, status: "ok" },
        { check: "storage", value: c.storage, status: c.storage === "file" ? "ok" : "warning" },
        { check: "duplicate_window_s", value: (c.duplicate_window ?? 0) / 1e9, status: (c.duplicate_window ?? 0) >= 120e9 ? "ok" : "warning" },
        { check: "retention", value: c.retention, status: c.retention === "limits" ? "ok" : "PROBLEM" },
      ];
      const stream = [{ stream: EVENT_STREAM, messages: info.state.messages, bytes: info.state.bytes, first_seq: info.state.first_seq, last_seq: info.state.last_seq, last_time: info.state.last_ts, consumers: info.state.consumer_count }];
      const consumers: Record<string, unknown>[] = [];
      for await (const ci of jsm.consumers.list(EVENT_STREAM)) {
        consumers.push({ consumer: ci.name, filter: (ci.config.filter_subjects ?? [ci.config.filter_subject]).join(" "), pending: ci.num_pending, ack_pending: ci.num_ack_pending, delivered: ci.delivered.stream_seq, ack_floor: ci.ack_floor.stream_seq });
      }
      if (opts.format === "json") {
        out(JSON.stringify({ stream: stream[0], checks, problems, warnings, consumers }));
      } else {
        out(renderRows(stream, opts.format));
        out("");
        out(renderRows(checks, opts.format, ["check", "value", "status"]));
        out("");
        out(renderRows(consumers, opts.format, ["consumer", "filter", "pending", "ack_pending", "delivered", "ack_floor"]));
        for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
        for (const p of problems) process.stderr.write(`problem: ${p}\n`);
      }
      return problems.length > 0 ? 1 : 0;
    }),
  );

program
  .command("failures")
  .description("parked events with their errors; --retry applies them again (after a fix), --skip drops them; held events follow")
  .argument("[projection]", "one PostgreSQL projection (default: all)")
  .option("--retry", "apply the failed events again, then the events held behind them")
  .option("--skip", "drop the failed events, then apply the events held behind them")
  .option("--seq <n>", "only the failed event at this sequence", parsePositive)
  .addOption(formatOption())
  .action((name: string | undefined, opts: { retry?: boolean; skip?: boolean; seq?: number; format: Format }) =>
    run(async (ctx) => {
      if (opts.retry && opts.skip) throw new UsageError("--retry and --skip exclude each other");
      const chosen = (name === undefined ? [...PROJECTIONS.values()] : projectionsFor(name)).filter((p): p is PgProjection => p.kind === "pg");
      if (chosen.length === 0) throw new UsageError(`${name} keeps no parked events (only PostgreSQL projections park)`);
      const db = (await ctx.db()).db;
      if (opts.retry || opts.skip) {
        const nc = await ctx.nats();
        const rows: Record<string, unknown>[] = [];
        for (const p of chosen) for (const r of await resolveFailures(ctx.maintenance(nc, db), p, opts.retry ? "retry" : "skip", opts.seq)) rows.push({ projection: p.name, ...r });
        out(renderRows(rows, opts.format, ["projection", "seq", "subject", "status", "outcome", "error"]));
        return rows.some((r) => r["outcome"] === "failed") ? 1 : 0;
      }
      const rows: Record<string, unknown>[] = [];
      for (const p of chosen) for (const f of await listParked(db, p.liveSchema)) rows.push({ projection: p.name, ...f });
      out(renderRows(rows, opts.format, ["projection", "seq", "subject", "type", "status", "attempts", "parkedAt", "error"]));
      return 0;
    }),
  );

if (process.argv.length <= 2) {
  program.outputHelp();
  process.exit(2);
}
await program.parseAsync(process.argv);

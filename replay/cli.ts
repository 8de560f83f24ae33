/**
 * The replay CLI: `npm run replay -- <command> [options]`. Rebuilds and verifies projections from
 * the log, answers audit questions, inspects the stream, and handles parked events.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { ConfigError } from "../app/config.ts";
import { auditFromLog, PROJECTIONS, type AuditFilter } from "../projections/index.ts";
import { checkEventStream, EVENT_STREAM } from "../streams/index.ts";
import { CliContext, UsageError } from "./context.ts";
import {
  changesReadModels,
  projectionsFor,
  runOperation,
  type Operation,
  type OperationResult,
  type ProgressBar,
  type Reporter,
} from "./operations.ts";
import { renderRows, type Format } from "./output.ts";
import { runRemote } from "./remote.ts";

const formatOption = () =>
  new Option("--format <format>", "how rows are printed").choices(["table", "json", "csv"]).default("table");

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
  // Into a pipe, stdout is written asynchronously: exiting at once would cut a long answer short.
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  process.exit(code);
}

/** A progress bar on stderr: events applied of those known, events/s and an ETA. */
function progressBar(label: string, enabled: boolean): ProgressBar {
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

function reporter(progress: boolean): Reporter {
  return { bar: (label) => progressBar(label, progress), note: (line) => process.stderr.write(`${line}\n`) };
}

/**
 * Runs `op` here, or, when natter runs on this data dir's embedded PGlite (which serves only the
 * process that opened it), in that natter, with its progress and result shown here the same way.
 */
async function perform(ctx: CliContext, op: Operation, progress = false): Promise<OperationResult> {
  const target = ctx.embeddedTarget();
  if (target === null) return runOperation(ctx, op, reporter(progress));
  if (changesReadModels(op)) {
    process.once("SIGINT", () => {
      process.stderr.write(`\nstopped waiting: natter (pid ${target.pid}) goes on with the ${op.op} (see its log)\n`);
      process.exit(130);
    });
  }
  return runRemote(await ctx.nats(), target, op, reporter(progress));
}

function parseDate(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new InvalidArgumentError(`"${value}" is not a date or time (ISO 8601, e.g. 2026-11-26T12:00:00Z)`);
  return d;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

const program = new Command()
  .name("npm run replay --")
  .description(
    "natter's replay tool: rebuild and verify read models from the event log, audit it, inspect the stream, handle parked events",
  )
  // A usage error is one line (every command exits with a one-line reason), with where to find the usage.
  .configureOutput({ outputError: (text, write) => write(`${text.trim().split("\n").join(" ")} (see --help)\n`) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program
  .command("list")
  .description(
    "the projections, each with its version, checkpoint, lag, parked failures and state (ok, parked, halted)",
  )
  .addOption(formatOption())
  .action((opts: { format: Format }) =>
    run(async (ctx) => {
      const r = await perform(ctx, { op: "list" });
      out(
        renderRows(r.rows, opts.format, [
          "projection",
          "kind",
          "version",
          "checkpoint",
          "lag",
          "parked",
          "state",
          "active",
        ]),
      );
    }),
  );

program
  .command("rebuild")
  .description(
    "build a projection from the start of the log beside the live one, catch up, check, then swap it in (resumable)",
  )
  .argument("<projection>", `one of ${[...PROJECTIONS.keys()].join(", ")}, or all`)
  .option("--keep-old", "keep the replaced schema as <schema>__old")
  .option("--no-progress", "no progress bar")
  .addOption(formatOption())
  .action((name: string, opts: { keepOld?: boolean; progress: boolean; format: Format }) =>
    run(async (ctx) => {
      projectionsFor(name);
      const r = await perform(ctx, { op: "rebuild", projection: name, keepOld: opts.keepOld === true }, opts.progress);
      out(renderRows(r.rows, opts.format));
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
      projectionsFor(name);
      const diffs = (await perform(ctx, { op: "verify", projection: name }, opts.progress)).rows;
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
  .description(
    "events filtered by actor, room, type, aggregate, correlation and time; from the audit read model, or --from-log",
  )
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
      const filter: AuditFilter = {
        actor: opts.actor,
        room: opts.room,
        type: opts.type,
        aggregate: opts.aggregate,
        correlation: opts.correlation,
        since: opts.since,
        until: opts.until,
        limit: opts.limit,
      };
      for (const k of Object.keys(filter) as (keyof AuditFilter)[]) if (filter[k] === undefined) delete filter[k];
      const rows = opts.fromLog
        ? await auditFromLog(await ctx.nats(), filter)
        : (await perform(ctx, { op: "audit", filter })).rows;
      out(
        renderRows(rows, opts.format, [
          "seq",
          "time",
          "type",
          "actor",
          "subject",
          "roomId",
          "commandId",
          "correlationId",
          "causationId",
          "payload",
        ]),
      );
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
      if (info === null)
        throw new Error(
          `stream ${EVENT_STREAM} does not exist: start natter (or npm run service -- commands) to create it`,
        );
      const { problems, warnings } = checkEventStream(info);
      const c = info.config;
      const checks = [
        { check: "deny_delete", value: c.deny_delete, status: c.deny_delete ? "ok" : "PROBLEM" },
        { check: "deny_purge", value: c.deny_purge, status: c.deny_purge ? "ok" : "PROBLEM" },
        { check: "allow_direct", value: c.allow_direct, status: c.allow_direct ? "ok" : "PROBLEM" },
        { check: "replicas", value: c.num_replicas, status: "ok" },
        { check: "storage", value: c.storage, status: c.storage === "file" ? "ok" : "warning" },
        {
          check: "duplicate_window_s",
          value: (c.duplicate_window ?? 0) / 1e9,
          status: (c.duplicate_window ?? 0) >= 120e9 ? "ok" : "warning",
        },
        { check: "retention", value: c.retention, status: c.retention === "limits" ? "ok" : "PROBLEM" },
      ];
      const stream = [
        {
          stream: EVENT_STREAM,
          messages: info.state.messages,
          bytes: info.state.bytes,
          first_seq: info.state.first_seq,
          last_seq: info.state.last_seq,
          last_time: info.state.last_ts,
          consumers: info.state.consumer_count,
        },
      ];
      const consumers: Record<string, unknown>[] = [];
      for await (const ci of jsm.consumers.list(EVENT_STREAM)) {
        consumers.push({
          consumer: ci.name,
          filter: (ci.config.filter_subjects ?? [ci.config.filter_subject]).join(" "),
          pending: ci.num_pending,
          ack_pending: ci.num_ack_pending,
          delivered: ci.delivered.stream_seq,
          ack_floor: ci.ack_floor.stream_seq,
        });
      }
      if (opts.format === "json") {
        out(JSON.stringify({ stream: stream[0], checks, problems, warnings, consumers }));
      } else {
        out(renderRows(stream, opts.format));
        out("");
        out(renderRows(checks, opts.format, ["check", "value", "status"]));
        out("");
        out(
          renderRows(consumers, opts.format, [
            "consumer",
            "filter",
            "pending",
            "ack_pending",
            "delivered",
            "ack_floor",
          ]),
        );
        for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
        for (const p of problems) process.stderr.write(`problem: ${p}\n`);
      }
      return problems.length > 0 ? 1 : 0;
    }),
  );

program
  .command("failures")
  .description(
    "parked events with their errors; --retry applies them again (after a fix), --skip drops them; held events follow",
  )
  .argument("[projection]", "one PostgreSQL projection (default: all)")
  .option("--retry", "apply the failed events again, then the events held behind them")
  .option("--skip", "drop the failed events, then apply the events held behind them")
  .option("--seq <n>", "only the failed event at this sequence", parsePositive)
  .addOption(formatOption())
  .action((name: string | undefined, opts: { retry?: boolean; skip?: boolean; seq?: number; format: Format }) =>
    run(async (ctx) => {
      if (opts.retry && opts.skip) throw new UsageError("--retry and --skip exclude each other");
      const mode = opts.retry ? "retry" : opts.skip ? "skip" : undefined;
      const r = await perform(ctx, {
        op: "failures",
        ...(name === undefined ? {} : { projection: name }),
        ...(mode === undefined ? {} : { mode }),
        ...(opts.seq === undefined ? {} : { seq: opts.seq }),
      });
      const columns =
        mode === undefined
          ? ["projection", "seq", "subject", "type", "status", "attempts", "parkedAt", "error"]
          : ["projection", "seq", "subject", "status", "outcome", "error"];
      out(renderRows(r.rows, opts.format, columns));
      return r.code;
    }),
  );

if (process.argv.length <= 2) {
  program.outputHelp();
  process.exit(2);
}
await program.parseAsync(process.argv);

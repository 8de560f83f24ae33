/**
 * Helpers shared by the benchmark suites: a private nats-server in a temporary folder, progress
 * lines, percentiles, windowed runners and CPU accounting of the processes involved.
 */
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ulid } from "ulid";
import { findNatsServerBinary, startNatsServer, type NatsServer } from "../streams/natsServer.ts";

const run = promisify(execFile);

const pool = new Uint8Array(4096);
let poolAt = pool.length;
/** Random numbers in [0, 1) for ulid, drawn from a pooled buffer of crypto randomness. */
function pooledPrng(): number {
  if (poolAt >= pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]! / 256;
}

/**
 * A ULID, as `ulid()` makes it but with pooled randomness: `ulid()` alone looks up its PRNG and asks
 * crypto for one byte per character, about 38 µs an id here, which would cap a client at about
 * 26k ids a second; this takes about 1 µs.
 */
export function fastUlid(): string {
  return ulid(undefined, pooledPrng);
}

/** A suite of the bench runner: `npm run bench -- <name> [options]`. */
export type Suite = {
  /** One line for `--help`. */
  about: string;
  /** The suite's own `--help` text. */
  usage: string;
  /** Runs the suite; resolves with the exit status (0: every target met or none set). */
  run(args: string[]): Promise<number>;
};

/** A nats-server of its own, storing in a temporary folder that `stop()` removes. */
export type TempNats = NatsServer & { dir: string; binary: string; version: string };

/** Starts a private nats-server (the project's 2.12+ binary) on a free port in a fresh temp folder. */
export async function startTempNats(): Promise<TempNats> {
  const binary = await findNatsServerBinary();
  const { stdout } = await run(binary, ["--version"]);
  const dir = await mkdtemp(join(tmpdir(), "natter-bench-"));
  let server: NatsServer;
  try {
    server = await startNatsServer({ binary, dir });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    dir,
    binary,
    version: stdout.trim().replace(/^nats-server:\s*/, ""),
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The value at quantile `q` (0..1) of an ascending array, nearest rank; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  const i = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[i]!;
}

/** Summary of a sample of latencies in milliseconds. */
export type LatencySummary = { count: number; min: number; p50: number; p90: number; p99: number; p999: number; max: number; mean: number };

/** Sorts a copy of the sample and summarizes it. */
export function summarize(sample: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(sample).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

/** A number with thousands separators, e.g. 12,345. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds as text with 2 decimals. */
export function ms(n: number): string {
  return `${n.toFixed(2)} ms`;
}

const started = performance.now();

/** Seconds since the bench process started, as `[  12.3s]`. */
function stamp(): string {
  return `[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s]`;
}

/** Prints one progress line, stamped with the time since the bench started. */
export function say(text: string): void {
  console.log(`${stamp()} ${text}`);
}

/**
 * One phase of a suite: counts work done, prints a progress line every `everyMs` (overwritten in
 * place on a terminal) and one final line with the count, the elapsed time and the rate.
 */
export class Phase {
  readonly startedAt = performance.now();
  done = 0;
  errors = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly tty = process.stdout.isTTY === true;

  constructor(
    readonly name: string,
    readonly total: number,
    everyMs = 2000,
  ) {
    this.timer = setInterval(() => this.report(false), this.tty ? 250 : everyMs);
    this.timer.unref();
  }

  /** Seconds since the phase started. */
  get elapsed(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** Ends the phase and prints its final line (with `extra` appended); returns the elapsed seconds. */
  end(extra = ""): number {
    clearInterval(this.timer);
    const elapsed = this.elapsed;
    this.report(true, extra);
    return elapsed;
  }

  private report(final: boolean, extra = ""): void {
    const elapsed = this.elapsed;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const line =
      `${stamp()} ${this.name}: ${fmt(this.done)}/${fmt(this.total)} in ${elapsed.toFixed(2)} s ` +
      `(${fmt(rate)}/s)${this.errors ? `, ${fmt(this.errors)} errors` : ""}${extra ? `, ${extra}` : ""}`;
    if (this.tty) process.stdout.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    else console.log(line + (final ? "" : " …"));
  }
}

/**
 * Runs `task(i)` for i in [0, total) with at most `concurrency` under way, in index order of
 * starting. Resolves when all have settled; a task's rejection is counted by the caller's `task`.
 */
export async function windowed(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

/** CPU seconds (user + system) a process has used, from /proc; undefined where there is no /proc. */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat; undefined where there is none. */
export async function machineBusySeconds(): Promise<number | undefined> {
  try {
    const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

/** CPU seconds of every process on the machine, by pid, from /proc (empty where there is none). */
export async function allProcessSeconds(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return out;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        const s = await cpuSeconds(Number(e));
        if (s !== undefined) out.set(Number(e), s);
      }),
  );
  return out;
}

/**
 * Measures CPU used by named processes across a phase; by other processes on the machine (which
 * compete for the cores and make a run's figures unreliable; processes that both start and end within
 * the phase are missed); and by the kernel outside any process (softirq: loopback networking, for one).
 */
export class CpuMeter {
  private before = new Map<string, number>();
  private machineBefore: number | undefined;
  private allBefore = new Map<number, number>();
  private t0 = performance.now();
  /** The largest share of one core that other processes used in a reported phase. */
  static worstOthers = 0;

  constructor(private readonly pids: Record<string, number | undefined>) {}

  async start(): Promise<void> {
    this.before = new Map();
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = pid === undefined ? undefined : await cpuSeconds(pid);
      if (s !== undefined) this.before.set(name, s);
    }
    this.allBefore = await allProcessSeconds();
    this.machineBefore = await machineBusySeconds();
    this.t0 = performance.now();
  }

  /** "cpu: server 95%, service 100%, bench 40% of one core; other processes 3%, kernel 5%". */
  async report(): Promise<string> {
    const wall = (performance.now() - this.t0) / 1000;
    const machine = await machineBusySeconds();
    const all = await allProcessSeconds();
    const parts: string[] = [];
    let ours = 0;
    const ourPids = new Set<number>();
    for (const [name, pid] of Object.entries(this.pids)) {
      const b = this.before.get(name);
      const s = pid === undefined ? undefined : all.get(pid);
      if (pid !== undefined) ourPids.add(pid);
      if (b !== undefined && s !== undefined) {
        ours += s - b;
        parts.push(`${name} ${Math.round(((s - b) / wall) * 100)}%`);
      }
    }
    if (parts.length === 0) return "";
    let others = 0;
    for (const [pid, s] of all) if (!ourPids.has(pid)) others += s - (this.allBefore.get(pid) ?? 0);
    others = Math.max(0, others / wall);
    CpuMeter.worstOthers = Math.max(CpuMeter.worstOthers, others);
    let text = `cpu: ${parts.join(", ")} of one core; other processes ${Math.round(others * 100)}%`;
    if (machine !== undefined && this.machineBefore !== undefined) {
      const kernel = Math.max(0, (machine - this.machineBefore) / wall - ours / wall - others);
      text += `, kernel ${Math.round(kernel * 100)}%`;
    }
    return text;
  }
}

/**
 * Runs `cleanup` on SIGINT or SIGTERM, then exits 130; returns a function that removes the handler.
 * A second signal exits at once.
 */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error("\ninterrupted: stopping the service and nats-server, removing the temporary folder");
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

/** PASS or MISS for a target. */
export function verdict(ok: boolean): string {
  return ok ? "PASS" : "MISS";
}

/** Parses `--name value` and `--flag` options; unknown options throw. */
export function parseOptions<T extends Record<string, number | boolean | string | undefined>>(args: string[], defaults: T): T {
  const out: Record<string, number | boolean | string | undefined> = { ...defaults };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument "${a}"`);
    const eq = a.indexOf("=");
    const key = (eq >= 0 ? a.slice(2, eq) : a.slice(2)).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option ${a}`);
    const d = defaults[key];
    if (typeof d === "boolean") {
      out[key] = eq >= 0 ? a.slice(eq + 1) !== "false" : true;
      continue;
    }
    const raw = eq >= 0 ? a.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new Error(`option ${a} needs a value`);
    if (typeof d === "number") {
      const n = Number(raw.replace(/_/g, ""));
      if (!Number.isFinite(n) || n < 0) throw new Error(`option ${a}: "${raw}" is not a non-negative number`);
      out[key] = n;
    } else out[key] = raw;
  }
  return out as T;
}

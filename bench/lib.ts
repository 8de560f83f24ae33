/**
 * Helpers shared by the benchmark suites: a private nats-server in a temporary folder, progress
 * lines, percentiles, windowed runners and CPU accounting of the processes involved.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import pg from "pg";
import { ulid } from "ulid";
import {
  findNatsServerBinary,
  startNatsServer,
  type NatsServer,
  type NatsServerOptions,
} from "../streams/natsServer.ts";

const run = promisify(execFile);
/** The repository root, where the suites run natter's entry points. */
export const ROOT = resolve(import.meta.dirname, "..");

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

/**
 * A nats-server of its own, storing in a temporary folder that `stop()` removes; `monitorUrl` is its
 * monitoring endpoint (`http://127.0.0.1:<port>`) when it was started with `monitor: true`.
 */
export type TempNats = NatsServer & { dir: string; binary: string; version: string; monitorUrl: string | undefined };

/**
 * Starts a private nats-server (the project's 2.12+ binary) on a free port in a fresh temp folder;
 * `options` add to its configuration (the auth callout's accounts, a payload limit). With
 * `monitor: true` it also serves its monitoring endpoint on a free port of 127.0.0.1 (found from the
 * ports file the server writes: `ports_file_dir`).
 */
export async function startTempNats(
  options: Partial<Omit<NatsServerOptions, "binary" | "dir">> & { monitor?: boolean } = {},
): Promise<TempNats> {
  const { monitor, ...serverOptions } = options;
  const binary = await findNatsServerBinary();
  const { stdout } = await run(binary, ["--version"]);
  const dir = await mkdtemp(join(tmpdir(), "natter-bench-"));
  const portsDir = join(dir, "ports");
  if (monitor) await mkdir(portsDir);
  if (monitor)
    serverOptions.extraConfig = [
      serverOptions.extraConfig,
      `http: "127.0.0.1:-1"`,
      `ports_file_dir: ${JSON.stringify(portsDir)}`,
    ]
      .filter(Boolean)
      .join("\n");
  let server: NatsServer | undefined;
  let monitorUrl: string | undefined;
  try {
    server = await startNatsServer({ ...serverOptions, binary, dir });
    if (monitor) monitorUrl = await monitoringUrl(portsDir, server.process.pid);
  } catch (err) {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const started = server;
  return {
    ...server,
    dir,
    binary,
    monitorUrl,
    version: stdout.trim().replace(/^nats-server:\s*/, ""),
    async stop() {
      await started.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The monitoring URL in the ports file nats-server `pid` wrote into `portsDir` (`{"monitoring": ["http://…"]}`). */
async function monitoringUrl(portsDir: string, pid: number | undefined): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const file = (await readdir(portsDir).catch((): string[] => [])).find((f) => f.endsWith(`_${pid}.ports`));
    if (file !== undefined) {
      const ports = JSON.parse(await readFile(join(portsDir, file), "utf8")) as { monitoring?: string[] };
      const url = ports.monitoring?.[0];
      if (url) return url;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nats-server wrote no monitoring port into ${portsDir}`);
}

/** What one stream's server-side parts handled: messages published to it, direct gets it answered, messages it holds. */
export type StreamCounters = { published: number; directGets: number; messages: number };

/**
 * Counters of a nats-server, read over its monitoring endpoint (so reading them sends no message
 * through the server):
 *
 * - `inMsgs`/`outMsgs`: `/varz`, every message the server took from and delivered to its clients;
 * - `apiTotal`/`apiErrors`: `/jsz`, the JetStream API requests (`$JS.API.…`: stream info, consumer
 *   and stream management); direct gets are not among them;
 * - per stream, from `/subsz?subs=1` (each subscription's delivered-message count, internal ones
 *   included) and `/jsz?streams=true&config=true`: `published`, the messages delivered to the
 *   stream's own subscriptions on its subjects (every append it was offered, refused ones too: a
 *   KV put is one on `$KV.<bucket>.>`); `directGets`, the requests delivered to its
 *   `$JS.API.DIRECT.GET.<stream>` and `$JS.API.DIRECT.GET.<stream>.>` subscriptions (a KV get is
 *   one); `messages`, what it holds.
 *
 * A stream's subscriptions are told from a client's subscribing to the same subjects by their
 * connection: the stream's internal client is the one that holds its direct-get subscriptions.
 */
export type ServerCounters = {
  inMsgs: number;
  outMsgs: number;
  apiTotal: number;
  apiErrors: number;
  streams: Map<string, StreamCounters>;
};

type SubDetail = { account?: string; subject: string; qgroup?: string; msgs?: number; cid?: number };
type StreamDetail = { name: string; config?: { subjects?: string[] }; state?: { messages?: number } };

/** Reads the server's counters (see ServerCounters) from `monitorUrl`. */
export async function readServerCounters(monitorUrl: string): Promise<ServerCounters> {
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${monitorUrl}${path}`);
    if (!res.ok) throw new Error(`nats-server monitoring ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  const [varz, jsz, subsz] = await Promise.all([
    get<{ in_msgs: number; out_msgs: number }>("/varz"),
    get<{
      api?: { total?: number; errors?: number };
      account_details?: { name: string; stream_detail?: StreamDetail[] }[];
    }>("/jsz?accounts=true&streams=true&config=true"),
    get<{ subscriptions_list?: SubDetail[] }>("/subsz?subs=1&limit=1000000"),
  ]);
  const subs = subsz.subscriptions_list ?? [];
  const streams = new Map<string, StreamCounters>();
  for (const account of jsz.account_details ?? []) {
    for (const st of account.stream_detail ?? []) {
      const direct = `$JS.API.DIRECT.GET.${st.name}`;
      const inAccount = subs.filter((x) => x.account === account.name);
      const directSubs = inAccount.filter((x) => x.subject === direct || x.subject === `${direct}.>`);
      const cids = new Set(directSubs.map((x) => x.cid));
      const subjects = new Set(st.config?.subjects ?? []);
      const sum = (list: SubDetail[]): number => list.reduce((n, x) => n + (x.msgs ?? 0), 0);
      streams.set(st.name, {
        published: sum(inAccount.filter((x) => cids.has(x.cid) && x.qgroup === undefined && subjects.has(x.subject))),
        directGets: sum(directSubs),
        messages: st.state?.messages ?? 0,
      });
    }
  }
  return {
    inMsgs: varz.in_msgs,
    outMsgs: varz.out_msgs,
    apiTotal: jsz.api?.total ?? 0,
    apiErrors: jsz.api?.errors ?? 0,
    streams,
  };
}

/** Server operations per item (a post) between two readings of ServerCounters. */
export type ServerOpsPerItem = {
  /** Appends offered to the event streams (not `KV_…`), refused ones included, and those stored. */
  appends: number;
  stored: number;
  /** Direct gets of the event streams (an aggregate's events, a subject's last sequence). */
  directGets: number;
  /** Direct gets and puts of the KV buckets' streams. */
  kvReads: number;
  kvWrites: number;
  /** JetStream API requests other than direct gets, and the errors among them. */
  api: number;
  apiErrors: number;
  msgsIn: number;
  msgsOut: number;
  /** The streams with any per-item activity: "CHAT_EVENTS 1.00 appends, 1.00 direct gets". */
  byStream: string[];
};

/** The server operations per item between `before` and `after`, `items` being what was done meanwhile. */
export function serverOpsPerItem(before: ServerCounters, after: ServerCounters, items: number): ServerOpsPerItem {
  const per = (n: number): number => (items > 0 ? n / items : Number.NaN);
  const out: ServerOpsPerItem = {
    appends: 0,
    stored: 0,
    directGets: 0,
    kvReads: 0,
    kvWrites: 0,
    api: per(after.apiTotal - before.apiTotal),
    apiErrors: per(after.apiErrors - before.apiErrors),
    msgsIn: per(after.inMsgs - before.inMsgs),
    msgsOut: per(after.outMsgs - before.outMsgs),
    byStream: [],
  };
  for (const [name, a] of after.streams) {
    const b = before.streams.get(name) ?? { published: 0, directGets: 0, messages: 0 };
    const published = per(a.published - b.published);
    const gets = per(a.directGets - b.directGets);
    const stored = per(a.messages - b.messages);
    if (name.startsWith("KV_")) {
      out.kvWrites += published;
      out.kvReads += gets;
    } else {
      out.appends += published;
      out.stored += stored;
      out.directGets += gets;
    }
    if (published > 0 || gets > 0)
      out.byStream.push(`${name} ${published.toFixed(2)} published, ${gets.toFixed(2)} direct gets`);
  }
  return out;
}

/** "1.00 appends (1.00 stored), 0.00 direct gets, 0.00 KV reads, 0.00 KV writes, 0.00 JetStream API requests, msgs 3.00 in / 3.00 out". */
export function formatServerOps(o: ServerOpsPerItem): string {
  const f = (n: number): string => n.toFixed(2);
  return (
    `${f(o.appends)} appends (${f(o.stored)} stored), ${f(o.directGets)} direct gets, ${f(o.kvReads)} KV reads, ${f(o.kvWrites)} KV writes, ` +
    `${f(o.api)} JetStream API requests${o.apiErrors > 0 ? ` (${f(o.apiErrors)} errors)` : ""}, msgs ${f(o.msgsIn)} in / ${f(o.msgsOut)} out`
  );
}

/** The value at quantile `q` (0..1) of an ascending array, nearest rank; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  const i = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[i]!;
}

/** Summary of a sample of latencies in milliseconds. */
export type LatencySummary = {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
};

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
  private readonly tty: boolean;

  /** `out`: where the lines go (progress of setup phases can go to stderr, apart from the figures). */
  constructor(
    readonly name: string,
    readonly total: number,
    everyMs = 2000,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.tty = out.isTTY === true;
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
    if (this.tty) this.out.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    else this.out.write(`${line}${final ? "" : " …"}\n`);
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

/** A process's CPU seconds (user + system), name, parent, and whether it is a kernel thread, from /proc/<pid>/stat. */
type ProcessCpu = { seconds: number; name: string; parent: number; kernelThread: boolean };

/** Every process on the machine, by pid (empty where there is no /proc). */
async function processTable(): Promise<Map<number, ProcessCpu>> {
  const out = new Map<number, ProcessCpu>();
  let entries: string[];
  try {
    entries = (await readdir("/proc")).filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  await Promise.all(
    entries.map(async (e) => {
      try {
        const stat = await readFile(`/proc/${e}/stat`, "utf8");
        const close = stat.lastIndexOf(")");
        const fields = stat.slice(close + 2).split(" ");
        const flags = Number(fields[6]);
        // PF_KTHREAD: the kernel's own threads (softirq, workers) count as kernel time, not as other processes.
        out.set(Number(e), {
          seconds: (Number(fields[11]) + Number(fields[12])) / 100,
          name: stat.slice(stat.indexOf("(") + 1, close),
          parent: Number(fields[1]),
          kernelThread: (flags & 0x200000) !== 0,
        });
      } catch {
        // gone meanwhile
      }
    }),
  );
  return out;
}

/** CPU seconds of every process on the machine, by pid, from /proc (empty where there is none). */
export async function allProcessSeconds(): Promise<Map<number, number>> {
  return new Map([...(await processTable())].map(([pid, p]) => [pid, p.seconds]));
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

/** A bad option or value: the runner prints it with the suite's usage and exits 2. */
export class UsageError extends Error {}

/** Parses `--name value` and `--flag` options; an unknown option or a bad value throws UsageError. */
export function parseOptions<T extends Record<string, number | boolean | string | undefined>>(
  args: string[],
  defaults: T,
): T {
  const out: Record<string, number | boolean | string | undefined> = { ...defaults };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"`);
    const eq = a.indexOf("=");
    const key = (eq >= 0 ? a.slice(2, eq) : a.slice(2)).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!(key in defaults)) throw new UsageError(`unknown option ${a}`);
    const d = defaults[key];
    if (typeof d === "boolean") {
      out[key] = eq >= 0 ? a.slice(eq + 1) !== "false" : true;
      continue;
    }
    const raw = eq >= 0 ? a.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new UsageError(`option ${a} needs a value`);
    if (typeof d === "number") {
      const n = Number(raw.replace(/_/g, ""));
      if (!Number.isFinite(n) || n < 0) throw new UsageError(`option ${a}: "${raw}" is not a non-negative number`);
      out[key] = n;
    } else out[key] = raw;
  }
  return out as T;
}

/**
 * CPU used across a phase by groups of processes (a group may change its pids, like PostgreSQL
 * backends), by other processes on the machine (which compete for the cores and disturb the
 * figures), and the rest of the machine's busy time: the kernel outside any process (loopback
 * networking, for one) and processes that started and ended within the phase (short test workers).
 */
export class CpuGroups {
  private before = new Map<number, number>();
  private machineBefore: number | undefined;
  private t0 = performance.now();
  /** The largest share of one core other processes used in a reported phase. */
  static worstOthers = 0;

  constructor(private readonly groups: Record<string, () => Promise<(number | undefined)[]>>) {}

  private async pidsOf(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const [name, pids] of Object.entries(this.groups))
      out.set(
        name,
        (await pids().catch((): (number | undefined)[] => [])).filter((p): p is number => p !== undefined),
      );
    return out;
  }

  async start(): Promise<void> {
    this.before = new Map([...(await processTable())].map(([pid, p]) => [pid, p.seconds]));
    this.machineBefore = await machineBusySeconds();
    this.t0 = performance.now();
  }

  /**
   * "cpu: nats-server 40%, postgres 80%, bench 95%, other processes 3%, kernel and exited processes 5% of one core; load
   * 3.2", with the other processes that used 5 % or more named, and the CPU time per item of each
   * group when `items` is given ("...; per event: bench 31 µs, ...").
   */
  async report(items?: number): Promise<string> {
    const wall = (performance.now() - this.t0) / 1000;
    const groups = await this.pidsOf();
    const table = await processTable();
    const machine = await machineBusySeconds();
    const usedBy = (pid: number): number => Math.max(0, (table.get(pid)?.seconds ?? 0) - (this.before.get(pid) ?? 0));
    const pct = (seconds: number): string => `${Math.round((seconds / wall) * 100)}%`;
    const parts: string[] = [];
    const perItem: string[] = [];
    const ourPids = new Set<number>();
    let ours = 0;
    for (const [name, pids] of groups) {
      let used = 0;
      for (const pid of pids) {
        if (!table.has(pid)) continue;
        ourPids.add(pid);
        used += usedBy(pid);
      }
      ours += used;
      parts.push(`${name} ${pct(used)}`);
      if (items) perItem.push(`${name} ${fmt((used / items) * 1e6)} µs`);
    }
    let others = 0;
    const busy: string[] = [];
    for (const [pid, p] of table) {
      if (ourPids.has(pid) || p.kernelThread) continue;
      const used = usedBy(pid);
      others += used;
      if (used / wall >= 0.05) busy.push(`${pid} ${p.name} ${pct(used)}`);
    }
    CpuGroups.worstOthers = Math.max(CpuGroups.worstOthers, others / wall);
    parts.push(`other processes ${pct(others)}${busy.length ? ` (${busy.slice(0, 3).join(", ")})` : ""}`);
    if (machine !== undefined && this.machineBefore !== undefined)
      parts.push(`kernel and exited processes ${pct(Math.max(0, machine - this.machineBefore - ours - others))}`);
    return `cpu: ${parts.join(", ")} of one core${perItem.length ? `; per event: ${perItem.join(", ")}` : ""}; load ${loadavg()[0]!.toFixed(2)}`;
  }
}

/**
 * The young generation natter's processes run with (package.json's `start` and `service`): the read
 * API makes a page's text per request, and with V8's default 16 MiB its scavenges and promotions
 * stalled pages at 2,000/s (bench/RESULTS.md, read).
 */
export const NODE_FLAGS = "--max-semi-space-size=64";

/** A child process of a suite (a natter part, a helper script), run as `node --import tsx <args>` in the repository root. */
export type Child = {
  readonly label: string;
  readonly pid: number | undefined;
  /** Resolves with the exit code once the child has exited. */
  readonly exited: Promise<number | null>;
  /**
   * The first stdout line that `match` accepts, among the last thousand printed or still to come;
   * rejects when the child exits first or after `timeoutMs`.
   */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGTERM (SIGKILL after 10 s); resolves once the child has exited. */
  stop(): Promise<void>;
};

/** Whether a stdout line is worth passing on: anything but a pino log line below `warn`. */
function worthForwarding(line: string): boolean {
  if (!line.startsWith("{")) return true;
  try {
    return Number((JSON.parse(line) as { level?: unknown }).level ?? 50) >= 40;
  } catch {
    return true;
  }
}

/**
 * Starts `node --import tsx <args>` in the repository root with `env` added to this process's
 * environment. Its stderr, and stdout lines other than logs below `warn`, are passed on to stderr
 * prefixed with `[label]` (twenty at most). With `cpuProfDir`, node writes a V8 CPU profile into
 * `<cpuProfDir>/<label>` when the child exits.
 *
 * @example
 * const api = startChild("read-api", ["app/service.ts", "read-api"], { NATS_URL: url, PORT: "8080" });
 * await api.waitForLine((l) => l.includes("read API listening"));
 */
export function startChild(label: string, args: string[], env: Record<string, string>, cpuProfDir?: string): Child {
  // As `npm start` and `npm run service` run natter's parts (package.json).
  const nodeArgs = [NODE_FLAGS, ...(cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(cpuProfDir, label)}`] : [])];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, "--import", "tsx", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let forwarded = 0;
  const forward = (line: string): void => {
    if (forwarded++ < 20) console.error(`[${label}] ${line}`);
    else if (forwarded === 21) console.error(`[${label}] (more lines suppressed)`);
  };
  const recent: string[] = [];
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  createInterface({ input: child.stderr! }).on("line", forward);
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (worthForwarding(line)) forward(line);
    recent.push(line);
    if (recent.length > 1000) recent.shift();
    for (const w of waiters) if (w.match(line)) w.resolve(line);
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    label,
    pid: child.pid,
    exited,
    waitForLine(match, timeoutMs = 60_000) {
      const seen = recent.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolveLine, reject) => {
        const waiter = {
          match,
          resolve: (line: string) => {
            waiters.delete(waiter);
            clearTimeout(timer);
            resolveLine(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${label}: the expected line did not come within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${label} exited (code ${code}) before the expected line`));
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Calls `fire(k, due)` for k = 0 … total − 1 at `rate` a second, open loop: call k is due at
 * t0 + k / rate and is handed that moment, so a latency measured from it charges a stall to every
 * call the stall delays (no coordinated omission). Resolves once every call has settled, with how
 * late, at most, a call was made.
 */
export async function openLoop(
  rate: number,
  total: number,
  fire: (k: number, due: number) => Promise<unknown>,
): Promise<{ maxLateMs: number }> {
  const interval = 1000 / rate;
  const t0 = performance.now() + 20;
  const calls: Promise<unknown>[] = [];
  let maxLateMs = 0;
  let i = 0;
  await new Promise<void>((allFired) => {
    const tick = (): void => {
      const now = performance.now();
      while (i < total && t0 + i * interval <= now) {
        const due = t0 + i * interval;
        maxLateMs = Math.max(maxLateMs, now - due);
        calls.push(fire(i, due).catch(() => undefined));
        i++;
      }
      if (i < total) setTimeout(tick, Math.max(0, Math.min(1, t0 + i * interval - performance.now())));
      else allFired();
    };
    tick();
  });
  await Promise.all(calls);
  return { maxLateMs };
}

/** A database of a suite's own on a PostgreSQL server; `drop()` removes it. */
export type TempDatabase = {
  readonly name: string;
  readonly url: string;
  readonly serverVersion: string;
  drop(): Promise<void>;
};

/** Creates `<prefix>_<random>` on the server at `adminUrl` (a URL allowed to create databases). */
export async function createTempDatabase(adminUrl: string, prefix = "natter_bench"): Promise<TempDatabase> {
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `cannot reach PostgreSQL at ${adminUrl}: ${(err as Error).message} (set --database-url or DATABASE_URL)`,
      { cause: err },
    );
  }
  let serverVersion: string;
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  try {
    serverVersion = String(
      (await admin.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "?",
    );
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    serverVersion,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      try {
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end().catch(() => undefined);
      }
    },
  };
}

/** A process not of this run, with its command line. */
type ForeignProcess = ProcessCpu & { pid: number; command: string };

/**
 * The processes not of this run: all but this one, its ancestors (npm, tsx), its descendants (its
 * children), kernel threads, and PostgreSQL's (a backend is named after its database, natter_bench_…:
 * a connection of this or another run, not a run).
 */
async function foreignProcesses(): Promise<ForeignProcess[]> {
  const table = await processTable();
  const ours = new Set<number>();
  for (let p: number | undefined = process.pid; p !== undefined && p > 1 && !ours.has(p); p = table.get(p)?.parent)
    ours.add(p);
  const mine = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = table.get(p)?.parent)
      if (p === process.pid) return true;
    return false;
  };
  const out: ForeignProcess[] = [];
  for (const [pid, p] of table) {
    if (p.kernelThread || ours.has(pid) || mine(pid)) continue;
    const command = await readFile(`/proc/${pid}/cmdline`, "utf8").then(
      (c) => c.replace(/\0/g, " ").trim(),
      () => "",
    );
    if (!command.startsWith("postgres")) out.push({ ...p, pid, command });
  }
  return out;
}

/** The share of one core the processes not of this run used over the next `ms`, and the busiest of them. */
async function foreignCpu(ms: number): Promise<{ share: number; top: string }> {
  const before = new Map((await foreignProcesses()).map((p) => [p.pid, p.seconds]));
  await new Promise((r) => setTimeout(r, ms));
  const used = (await foreignProcesses())
    .map((p) => ({ p, s: p.seconds - (before.get(p.pid) ?? 0) }))
    .sort((a, b) => b.s - a.s);
  const share = used.reduce((sum, u) => sum + u.s, 0) / (ms / 1000);
  const top =
    used[0] === undefined
      ? ""
      : `${used[0].p.pid} ${used[0].p.command.slice(0, 80)} ${Math.round((used[0].s / (ms / 1000)) * 100)}%`;
  return { share, top };
}

/**
 * Waits until the machine is quiet: no other process whose command line matches `pattern` (another
 * bench, a test run), and other processes together using less than `maxShare` of one core over 3 s.
 * Looks every `pollMs`, at most `maxMs`; says on stderr what it waits for. Resolves with whether the
 * machine became quiet, after how long, and what kept it busy.
 */
export async function waitForQuietMachine(
  pattern = /bench|vitest/,
  pollMs = 30_000,
  maxMs = 15 * 60_000,
  maxShare = 0.15,
): Promise<{ quiet: boolean; waitedMs: number; busy: string[] }> {
  const t0 = performance.now();
  for (;;) {
    const busy = (await foreignProcesses())
      .filter((p) => pattern.test(p.command))
      .map((p) => `${p.pid} ${p.command.slice(0, 120)}`);
    if (busy.length === 0) {
      const cpu = await foreignCpu(3000);
      if (cpu.share >= maxShare)
        busy.push(`other processes at ${Math.round(cpu.share * 100)}% of one core, e.g. ${cpu.top}`);
    }
    const waitedMs = performance.now() - t0;
    if (busy.length === 0) return { quiet: true, waitedMs, busy };
    if (waitedMs + pollMs > maxMs) return { quiet: false, waitedMs, busy };
    console.error(
      `${stamp()} waiting for a quiet machine (${Math.round(waitedMs / 1000)} s so far; load ${loadavg()[0]!.toFixed(2)}): ${busy.length} reasons, e.g. ${busy[0]}`,
    );
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";

/** The repository root, where `npm start` and `npm run service` run. */
export const ROOT = resolve(import.meta.dirname, "..");

/** How a child process ended. */
export type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** A natter entry point run as a child process, as npm runs it, its stdout read line by line. */
export type TsxChild = {
  readonly process: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** True until the process has exited. */
  running(): boolean;
  /**
   * The first stdout line (already printed or still to come) that `match` accepts. Rejects when the
   * process exits first, or after `timeoutMs`, with what it printed.
   */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (SIGKILL after `graceMs` if it is still running) and resolves when it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
};

/** Variables that configure natter: a child gets only those the test gives it. */
const CONFIG_VARS = /^(NATS_URL|DATABASE_URL|OIDC_.*|OLLAMA_HOST|OTEL_.*|NATTER_.*|PORT|LOG_LEVEL)$/;

/** This process's environment without natter's configuration, plus `overrides`. */
export function childEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!CONFIG_VARS.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Runs `node --import tsx <script> ...args` in the repository root with `env` (see childEnv), as
 * `npm start` and `npm run service` do. Not the tsx CLI: that runs the script in a second process,
 * so a SIGKILL would leave the script running as an orphan, and a SIGTERM is relayed with only
 * 30 ms for a busy script to acknowledge it before tsx kills it.
 */
export function spawnTsx(script: string, args: string[], env: NodeJS.ProcessEnv): TsxChild {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  let done = false;
  const waiters = new Set<{
    match: (line: string) => boolean;
    resolve: (line: string) => void;
    reject: (err: Error) => void;
  }>();
  const describe = () => `stdout (last lines):\n${lines.slice(-20).join("\n")}\nstderr:\n${stderr.slice(-4000)}`;

  const onLine = (line: string) => {
    lines.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    for (const p of parts) onLine(p);
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    if (stderr.length < 200_000) stderr += chunk;
  });

  const exited = new Promise<Exit>((resolveExit) => {
    // "close" comes after the pipes are read to the end, so every line is in by then.
    child.once("close", (code, signal) => {
      done = true;
      if (partial !== "") onLine(partial);
      partial = "";
      for (const w of waiters)
        w.reject(
          new Error(`${script} exited (code ${code}, signal ${signal}) before the expected line\n${describe()}`),
        );
      waiters.clear();
      resolveExit({ code, signal });
    });
    child.once("error", (err) => {
      done = true;
      for (const w of waiters) w.reject(err);
      waiters.clear();
      resolveExit({ code: null, signal: null });
    });
  });

  return {
    process: child,
    lines,
    stderr: () => stderr,
    running: () => !done,
    exited,
    waitForLine(match, timeoutMs = 20_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      if (done) return Promise.reject(new Error(`${script} has exited without the expected line\n${describe()}`));
      return new Promise<string>((resolveLine, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${script}: no expected line within ${timeoutMs} ms\n${describe()}`));
        }, timeoutMs);
        const waiter = {
          match,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolveLine(line);
          },
          reject: (err: Error) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        waiters.add(waiter);
      });
    },
    async stop(signal = "SIGTERM", graceMs = 10_000) {
      if (done) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };
}

/** Runs `node --import tsx <script> ...args` to its end (killed after `timeoutMs`) and resolves with its exit and output. */
export async function runTsx(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const child = spawnTsx(script, args, env);
  const timer = setTimeout(() => child.process.kill("SIGKILL"), timeoutMs);
  const exit = await child.exited;
  clearTimeout(timer);
  return { ...exit, stdout: child.lines.join("\n"), stderr: child.stderr() };
}

/** A parsed JSON log line, or undefined for any other line. */
export function logLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A command-service child process (`npm run service -- commands`) and its readiness. */
export type CommandServiceChild = TsxChild & {
  /** Resolves once it logged "command service ready"; rejects if it exits first. */
  readonly ready: Promise<void>;
};

/**
 * Starts `node --import tsx app/service.ts commands` against `natsUrl` with rate limiting off and info logs, as
 * `npm run service -- commands` would.
 */
export function spawnCommandService(natsUrl: string, env: Record<string, string> = {}): CommandServiceChild {
  const child = spawnTsx(
    "app/service.ts",
    ["commands"],
    childEnv({ NATS_URL: natsUrl, NATTER_RATE_LIMIT: "off", LOG_LEVEL: "info", ...env }),
  );
  const ready = child.waitForLine((l) => logLine(l)?.["msg"] === "command service ready", 30_000).then(() => undefined);
  // A caller that never awaits `ready` must not see an unhandled rejection when it kills the child.
  ready.catch(() => undefined);
  return Object.assign(child, { ready });
}

/** A TCP port that was free a moment ago on 0.0.0.0 (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "0.0.0.0", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childEnv, runTsx } from "./childProcess.ts";

/** What one run of the replay CLI did. */
export type ReplayRun = {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: string[];
};

/** The replay CLI (`npm run replay -- ...`) pointed at one system's NATS and PostgreSQL. */
export type ReplayCli = {
  /** Runs `replay/cli.ts ...args` to its end. */
  run(args: string[], timeoutMs?: number): Promise<ReplayRun>;
  /** Runs it with `--format json` added and parses every stdout line as one object. */
  json<T = Record<string, unknown>>(args: string[], timeoutMs?: number): Promise<ReplayRun & { rows: T[] }>;
  /** Removes its data dir. */
  close(): Promise<void>;
};

/**
 * Runs the replay CLI as a child process, as `npm run replay --` does, with only NATS_URL and
 * DATABASE_URL (and a private, empty data dir, and `extraEnv`) in its configuration. With neither
 * and a running natter's NATTER_DATA_DIR in `extraEnv`, it finds that natter as an operator would.
 */
export async function replayCli(
  natsUrl: string | undefined,
  databaseUrl: string | undefined,
  extraEnv: Record<string, string> = {},
): Promise<ReplayCli> {
  const dataDir = await mkdtemp(join(tmpdir(), "natter-replay-"));
  const env = childEnv({
    NATS_URL: natsUrl,
    DATABASE_URL: databaseUrl,
    NATTER_DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    ...extraEnv,
  });
  const run = async (args: string[], timeoutMs = 60_000): Promise<ReplayRun> => {
    const r = await runTsx("replay/cli.ts", args, env, timeoutMs);
    return { ...r, lines: r.stdout.split("\n").filter((l) => l.length > 0) };
  };
  return {
    run,
    async json<T>(args: string[], timeoutMs?: number) {
      const r = await run([...args, "--format", "json"], timeoutMs);
      const rows = r.lines.map((l) => {
        try {
          return JSON.parse(l) as T;
        } catch {
          throw new Error(`replay ${args.join(" ")}: stdout line is not JSON: ${l}\nstderr: ${r.stderr}`);
        }
      });
      return { ...r, rows };
    },
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/** Runs `tasks` with at most `limit` at a time; resolves with their results in order. */
export async function inBatches<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

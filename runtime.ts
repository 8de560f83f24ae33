import { createServer as createNetServer } from "node:net";
import type { Logger } from "pino";
import { pino } from "pino";
import type { Config } from "./config.ts";

/**
 * The process's logger: JSON lines on stdout at the configured level. Written synchronously, a few
 * microseconds a line: pino's default asynchronous stdout loses the lines still being written when
 * the process exits (onShutdown's process.exit), and a shutdown is when they matter.
 */
export function createLogger(config: Pick<Config, "logLevel">, name: string): Logger {
  return pino({ name, level: config.logLevel, base: { part: name } }, pino.destination({ dest: 1, sync: true }));
}

/** True when a TCP port can be listened on at `host`. */
export function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * The port to use for a variable: the configured one, which must be free (else an error that
 * names the variable), or, when the variable is unset and its default is taken, the next free one.
 */
export async function choosePort(name: string, port: number, explicit: boolean): Promise<{ port: number; moved: boolean }> {
  if (await portIsFree(port)) return { port, moved: false };
  if (explicit) throw new Error(`port ${port} is taken: set ${name} to a free port`);
  for (let p = port + 1; p < port + 100; p++) if (await portIsFree(p)) return { port: p, moved: true };
  throw new Error(`port ${port} and the next 99 are taken: set ${name} to a free port`);
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0 (1 if stopping failed). A second signal
 * exits at once.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "stopping");
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "stopping failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

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

/** True when a TCP port can be listened on at `host` (or `host` is not an address of this machine). */
export function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.once("error", (err: NodeJS.ErrnoException) =>
      resolve(err.code === "EADDRNOTAVAIL" || err.code === "EAFNOSUPPORT"),
    );
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * The port to use for a variable: the configured one, which must be free (else an error that
 * names the variable), or, when the variable is unset and its default is taken, the next free one.
 */
export async function choosePort(
  name: string,
  port: number,
  explicit: boolean,
): Promise<{ port: number; moved: boolean }> {
  if (await portIsFree(port)) return { port, moved: false };
  if (explicit) throw new Error(`port ${port} is taken: set ${name} to a free port`);
  for (let p = port + 1; p < port + 100; p++) if (await portIsFree(p)) return { port: p, moved: true };
  throw new Error(`port ${port} and the next 99 are taken: set ${name} to a free port`);
}

/** How long a stop may take before the process exits all the same. */
const STOP_TIMEOUT_MS = 15_000;

/** What {@link onShutdown} hands back: ends the process cleanly on a fatal error found by the caller. */
export type Shutdown = {
  /** Logs `err`, runs the stop, and exits 1: for a start that failed half-way. */
  fail(err: unknown): void;
};

/**
 * Runs `stop` once, then exits: on SIGTERM or SIGINT (exit 0, 1 if stopping failed), and on an
 * uncaught exception or unhandled rejection anywhere in the process, which is logged and ends it
 * with exit 1, so that a supervisor restarts it with its children (the embedded nats-server) gone
 * rather than leave a process that half works. A stop that takes longer than 15 s is cut short; a
 * second signal exits at once. `stop` must cope with a start that got only part of the way.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>): Shutdown {
  let stopping = false;
  const end = (code: number) => {
    if (stopping) return;
    stopping = true;
    // Should the stop hang on something that holds no handle, node would exit by itself: with this code.
    process.exitCode = code;
    setTimeout(() => {
      log.error({ ms: STOP_TIMEOUT_MS }, "stopping took too long: exiting");
      process.exit(code === 0 ? 1 : code);
    }, STOP_TIMEOUT_MS);
    stop().then(
      () => process.exit(code),
      (err: unknown) => {
        log.error({ err }, "stopping failed");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    log.info({ signal }, "stopping");
    end(0);
  };
  const fatal = (what: string) => (err: unknown) => {
    try {
      log.fatal({ err }, `${what}: stopping the process`);
    } catch {
      // stdout is gone (a closed pipe): stop all the same.
    }
    end(1);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  process.on("uncaughtException", fatal("uncaught exception"));
  process.on("unhandledRejection", fatal("unhandled rejection"));
  return { fail: fatal("start failed") };
}

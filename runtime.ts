import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer } from "node:net";
import type { Duplex } from "node:stream";
import { timingSafeEqual } from "node:crypto";
import type { Registry } from "prom-client";
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
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "EADDRNOTAVAIL" || err.code === "EAFNOSUPPORT"));
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

/**
 * A request listener that no request can take the process down with: an exception thrown by
 * `handler`, or a promise it returns that rejects, is logged and answered 500 (if nothing was sent
 * yet), instead of becoming an uncaught exception.
 */
export function guardedListener(log: Logger, handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): RequestListener {
  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    log.error({ err, method: req.method, url: req.url?.slice(0, 200) }, "HTTP request failed");
    if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "internal", message: "the request failed: try again" } }));
    else res.destroy();
  };
  return (req, res) => {
    try {
      const done = handler(req, res);
      if (done instanceof Promise) done.catch((err: unknown) => failed(req, res, err));
    } catch (err) {
      failed(req, res, err);
    }
  };
}

/**
 * Listens with `listener` on `port` at each of `hosts` (one server per address: loopback is
 * 127.0.0.1 and ::1, since "localhost" may resolve to either). A host without that address family
 * (::1 where IPv6 is off) is skipped when another one listens. A port that is taken is an error
 * that names PORT.
 */
export async function listenHttp(listener: RequestListener, port: number, hosts: readonly string[], log: Logger): Promise<Server[]> {
  const servers: Server[] = [];
  for (const host of hosts) {
    const server = createHttpServer(listener);
    // Node hands CONNECT to this event and, with no listener, closes the socket without a word.
    server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
      socket.end("HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, resolve);
      });
      servers.push(server);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === "EADDRNOTAVAIL" || code === "EAFNOSUPPORT") && hosts.length > 1) {
        log.warn({ host, port }, `cannot listen on ${host} (${code}): skipped`);
        continue;
      }
      for (const s of servers) s.close();
      throw new Error(`cannot listen on ${host} port ${port} (${(err as Error).message}): set PORT to a free port`);
    }
  }
  if (servers.length === 0) throw new Error(`cannot listen on port ${port} at ${hosts.join(", ")}: set NATTER_HTTP_HOST to an address of this machine`);
  return servers;
}

const isLoopback = (address: string | undefined): boolean =>
  address !== undefined && (address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127."));

/**
 * Whether a request may read /metrics: one from this machine (a loopback peer that is not
 * forwarding someone else's request), or one that carries `Authorization: Bearer <token>` when
 * NATTER_METRICS_TOKEN is set.
 */
export function mayReadMetrics(req: IncomingMessage, token: string | undefined): boolean {
  const auth = req.headers.authorization;
  if (token !== undefined && auth !== undefined && auth.startsWith("Bearer ")) {
    const given = Buffer.from(auth.slice(7));
    const wanted = Buffer.from(token);
    if (given.length === wanted.length && timingSafeEqual(given, wanted)) return true;
  }
  return isLoopback(req.socket.remoteAddress) && req.headers["x-forwarded-for"] === undefined && req.headers["forwarded"] === undefined;
}

/** Answers GET /metrics from `registry` for those {@link mayReadMetrics} lets in, 403 for the rest. */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, registry: Registry, token: string | undefined): Promise<void> {
  if (!mayReadMetrics(req, token)) {
    res.writeHead(403, { "content-type": "application/json" }).end(
      JSON.stringify({ error: { code: "forbidden", message: "/metrics answers this machine only, or Authorization: Bearer $NATTER_METRICS_TOKEN" } }),
    );
    return;
  }
  const text = await registry.metrics();
  res.writeHead(200, { "content-type": registry.contentType }).end(text);
}

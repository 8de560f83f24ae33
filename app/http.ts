/**
 * HTTP for every part that serves it: a listener no request can crash, listening on the
 * configured addresses, `/metrics` for this machine (or a bearer token) and `/healthz`.
 */
import { timingSafeEqual } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

/**
 * A request listener that no request can take the process down with: an exception thrown by
 * `handler`, or a promise it returns that rejects, is logged and answered 500 (if nothing was sent
 * yet), instead of becoming an uncaught exception.
 */
export function guardedListener(
  log: Logger,
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): RequestListener {
  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    log.error({ err, method: req.method, url: req.url?.slice(0, 200) }, "HTTP request failed");
    if (!res.headersSent)
      res
        .writeHead(500, { "content-type": "application/json" })
        .end(JSON.stringify({ error: { code: "internal", message: "the request failed: try again" } }));
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
export async function listenHttp(
  listener: RequestListener,
  port: number,
  hosts: readonly string[],
  log: Logger,
): Promise<Server[]> {
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
  if (servers.length === 0)
    throw new Error(
      `cannot listen on port ${port} at ${hosts.join(", ")}: set NATTER_HTTP_HOST to an address of this machine`,
    );
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
  return (
    isLoopback(req.socket.remoteAddress) &&
    req.headers["x-forwarded-for"] === undefined &&
    req.headers["forwarded"] === undefined
  );
}

/** Answers GET /metrics from `registry` for those {@link mayReadMetrics} lets in, 403 for the rest. */
export async function serveMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  registry: Registry,
  token: string | undefined,
): Promise<void> {
  if (!mayReadMetrics(req, token)) {
    res.writeHead(403, { "content-type": "application/json" }).end(
      JSON.stringify({
        error: {
          code: "forbidden",
          message: "/metrics answers this machine only, or Authorization: Bearer $NATTER_METRICS_TOKEN",
        },
      }),
    );
    return;
  }
  const text = await registry.metrics();
  res.writeHead(200, { "content-type": registry.contentType }).end(text);
}

/** Answers GET /healthz: 200 when `status` is ok, 503 otherwise, with the whole answer as JSON. */
export async function serveHealth(res: ServerResponse, health: () => Promise<{ status: string }>): Promise<void> {
  const h = await health();
  res.writeHead(h.status === "ok" ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify(h));
}

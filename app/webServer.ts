import { createReadStream } from "node:fs";
import { pipeline } from "node:stream";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";

/** What the web client needs to know at start, served as `/config.json`. */
export type WebConfig = {
  /** The OIDC issuer the browser signs in at. */
  issuer: string;
  clientId: string;
  /** NATS over WebSocket, as the browser reaches it. */
  natsWsUrl: string;
  /** The longest message body (characters). */
  maxBody: number;
  /** How often a connection sends its presence heartbeat (ms). */
  presenceHeartbeatMs: number;
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Serves the built web client from `dir` (web/dist): its files, `/config.json`, and `index.html`
 * for every other GET (the client routes itself). Hashed assets are cached for good, the page not
 * at all. The page gets a Content-Security-Policy that allows scripts from this origin only and
 * connections to this origin, the issuer and NATS: a message that slips past the sanitizer still
 * cannot run inline script.
 */
export function webHandler(
  dir: string,
  config: () => WebConfig,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const root = normalize(dir);
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res
        .writeHead(405, { allow: "GET, HEAD", "content-type": "application/json" })
        .end(JSON.stringify({ error: { code: "invalid", message: `${req.method} is not allowed here` } }));
      return;
    }
    const path = pathOf(req.url ?? "/");
    if (path === undefined) {
      res.writeHead(400, { "content-type": "application/json" }).end(
        JSON.stringify({
          error: { code: "invalid", message: "the request path is not a valid URL path (bad percent-encoding?)" },
        }),
      );
      return;
    }
    if (path === "/config.json") {
      res
        .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
        .end(JSON.stringify(config()));
      return;
    }
    const file = normalize(join(root, path));
    if (file.startsWith(root + sep) && (await isFile(file))) {
      const immutable = path.startsWith("/assets/");
      send(req, res, file, immutable ? "public, max-age=31536000, immutable" : "no-cache", config());
      return;
    }
    const index = join(root, "index.html");
    if (!(await isFile(index))) {
      res
        .writeHead(503, { "content-type": "text/plain; charset=utf-8" })
        .end("the web client is not built: run npm run web:build (npm start builds it)\n");
      return;
    }
    send(req, res, index, "no-cache", config());
  };
}

function send(req: IncomingMessage, res: ServerResponse, file: string, cache: string, config: WebConfig): void {
  const type = TYPES[extname(file)] ?? "application/octet-stream";
  const headers: Record<string, string> = {
    "content-type": type,
    "cache-control": cache,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  };
  if (type.startsWith("text/html")) {
    headers["content-security-policy"] = contentSecurityPolicy(config);
    headers["x-frame-options"] = "DENY";
  }
  res.writeHead(200, headers);
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  // A file that went away since it was found (a rebuild of web/dist under a running natter) ends
  // this answer, not the process.
  pipeline(createReadStream(file), res, (err) => {
    if (err && !res.destroyed) res.destroy();
  });
}

/** The page's policy: own scripts only, connections to itself, the issuer and NATS. */
export function contentSecurityPolicy(config: WebConfig): string {
  const issuer = new URL(config.issuer).origin;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self' ${issuer} ${config.natsWsUrl}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    `form-action 'self' ${issuer}`,
  ].join("; ");
}

/** The decoded path of a request target, or undefined when it is no URL or its percent-encoding is broken. */
function pathOf(target: string): string | undefined {
  try {
    const path = decodeURIComponent(new URL(target, "http://natter").pathname);
    return path.includes("\0") ? undefined : path;
  } catch {
    return undefined;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

import { isIP } from "node:net";
import { resolve } from "node:path";
import { parseRateLimit, type RateLimit } from "../domain/index.ts";

/** natter's configuration, read from the environment once at start (README, "Configuration"). */
export type Config = Readonly<{
  /** NATS servers, comma-separated; undefined: start the embedded nats-server. */
  natsUrl: string | undefined;
  /** PostgreSQL; undefined: PGlite under the data dir. */
  databaseUrl: string | undefined;
  /** The OIDC issuer; undefined: the built-in development identity provider. */
  oidcIssuer: string | undefined;
  oidcAudience: string;
  /** The issuer's JWKS URL, when discovery at the issuer's public URL cannot be reached from here (containers). */
  oidcJwksUri: string | undefined;
  /** Ollama for translation; undefined: translation off. */
  ollamaHost: string | undefined;
  otelEndpoint: string | undefined;
  dataDir: string;
  port: number;
  /** The addresses the HTTP port listens on; loopback (127.0.0.1 and ::1) unless NATTER_HTTP_HOST opens it. */
  httpHosts: readonly string[];
  /** A bearer token that opens /metrics to requests from other hosts; undefined: loopback peers only. */
  metricsToken: string | undefined;
  rateLimit: RateLimit;
  /** Queries per user (HTTP and NATS together). */
  queryRateLimit: RateLimit;
  /** HTTP requests per client address. */
  httpRateLimit: RateLimit;
  /** A connection silent this long is offline (presence). */
  presenceTimeoutMs: number;
  /** How often clients are asked to send presence heartbeats. */
  presenceHeartbeatMs: number;
  /** Live connections one user may hold in presence; heartbeats of more are refused. */
  presenceMaxConnections: number;
  /** Reverse proxies whose X-Forwarded-For names the client (per-address HTTP limit). */
  trustedProxies: readonly string[];
  /** Messages (plus access rows) the read API's timeline cache holds; 0: off. */
  readCacheEntries: number;
  /** The estimated memory the timeline cache may take, in MiB. */
  readCacheMb: number;
  natsPort: number;
  natsWsPort: number;
  /** Which of the embedded server's ports were set (a set port must be free; a default one moves to the next free port). */
  portsSet: Readonly<{ natsPort: boolean; natsWsPort: boolean; natsMonitorPort: boolean }>;
  /** NATS over WebSocket as browsers reach it; undefined: the embedded server's port on the public URL's host (else localhost). */
  publicWsUrl: string | undefined;
  /**
   * The origin browsers open natter at besides the loopback ones (a host name, a reverse proxy),
   * without a trailing slash; undefined: loopback only (webOrigins.ts).
   */
  publicUrl: string | undefined;
  /** The embedded nats-server's monitoring port, on loopback only. */
  natsMonitorPort: number;
  /** Replicas of the event stream (1 on one server, 3 in a cluster). */
  streamReplicas: number;
  /** A file holding this part's NATS service nkey seed, when NATS requires credentials. */
  natsSeedFile: string | undefined;
  /** The auth callout's key file (made at first start). */
  authKeysFile: string;
  /** The development identity provider's access-token lifetime, in seconds. */
  devAccessTokenTtlSeconds: number;
  /** The projectors' lease time to live: a dead active projector is replaced within about this long. */
  projectionLeaseMs: number;
  logLevel: string;
}>;

/** A configuration variable with a bad value; the message names the variable and the fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`natter cannot start: bad configuration\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/**
 * Reads and validates the environment. Throws ConfigError listing every bad variable at once.
 *
 * @example loadConfig({ PORT: "8080", NATTER_RATE_LIMIT: "off" })
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const v = text(name);
    if (v === undefined) return undefined;
    for (const part of v.split(",")) {
      try {
        const u = new URL(part.trim());
        if (!protocols.includes(u.protocol)) problems.push(`${name}: "${part}" must use ${protocols.join(" or ")}`);
      } catch {
        problems.push(`${name}: "${part}" is not a URL (for example ${protocols[0]}//127.0.0.1)`);
      }
    }
    return v;
  };
  // An origin, not any URL: it becomes redirect URIs and WebSocket allowed origins, which name origins.
  const origin = (name: string): string | undefined => {
    const v = text(name);
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      problems.push(`${name}: "${v}" is not a URL (for example https://chat.example.com)`);
      return undefined;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") problems.push(`${name}: "${v}" must use http: or https:`);
    else if (u.username !== "" || u.password !== "" || u.pathname !== "/" || u.search !== "" || u.hash !== "") {
      problems.push(
        `${name}: "${v}" must be an origin only (scheme, host, optional port), such as ${u.origin}: natter is served at the root`,
      );
    } else return u.origin;
    return undefined;
  };
  const port = (name: string, fallback: number): number => {
    const v = text(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) {
      problems.push(`${name}: "${v}" is not a port number (1 to 65535)`);
      return fallback;
    }
    return n;
  };
  const limit = (name: string, fallback: RateLimit): RateLimit => {
    const v = text(name);
    if (v === undefined) return fallback;
    try {
      return parseRateLimit(v);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
      return fallback;
    }
  };
  const millis = (name: string, fallback: number, min: number, max: number): number => {
    const v = text(name) ?? String(fallback);
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}: "${v}" must be a whole number of milliseconds from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const rateLimit = limit("NATTER_RATE_LIMIT", { burst: 30, perSecond: 10 });
  const presenceHeartbeatMs = millis("NATTER_PRESENCE_HEARTBEAT_MS", 10_000, 100, 300_000);
  const presenceTimeoutMs = millis("NATTER_PRESENCE_TIMEOUT_MS", 30_000, 300, 900_000);
  if (presenceTimeoutMs <= presenceHeartbeatMs)
    problems.push(
      `NATTER_PRESENCE_TIMEOUT_MS: ${presenceTimeoutMs} must be longer than NATTER_PRESENCE_HEARTBEAT_MS (${presenceHeartbeatMs}), or every connection flaps offline`,
    );
  const replicasText = text("NATTER_STREAM_REPLICAS") ?? "1";
  const streamReplicas = Number(replicasText);
  if (![1, 3, 5].includes(streamReplicas)) problems.push(`NATTER_STREAM_REPLICAS: "${replicasText}" must be 1, 3 or 5`);
  const projectionLeaseMs = millis("NATTER_PROJECTION_LEASE_MS", 5000, 300, 600_000);
  const ttlText = text("NATTER_DEV_TOKEN_TTL") ?? "300";
  const devAccessTokenTtlSeconds = Number(ttlText);
  if (
    !Number.isInteger(devAccessTokenTtlSeconds) ||
    devAccessTokenTtlSeconds < 10 ||
    devAccessTokenTtlSeconds > 86_400
  ) {
    problems.push(`NATTER_DEV_TOKEN_TTL: "${ttlText}" must be a whole number of seconds from 10 to 86400`);
  }
  const cacheText = text("NATTER_READ_CACHE_ENTRIES") ?? "50000";
  const readCacheEntries = Number(cacheText);
  if (!Number.isInteger(readCacheEntries) || readCacheEntries < 0 || readCacheEntries > 10_000_000) {
    problems.push(`NATTER_READ_CACHE_ENTRIES: "${cacheText}" must be a whole number from 0 (cache off) to 10000000`);
  }
  const cacheMbText = text("NATTER_READ_CACHE_MB") ?? "128";
  const readCacheMb = Number(cacheMbText);
  if (!Number.isInteger(readCacheMb) || readCacheMb < 1 || readCacheMb > 65_536) {
    problems.push(
      `NATTER_READ_CACHE_MB: "${cacheMbText}" must be a whole number of MiB from 1 to 65536 (NATTER_READ_CACHE_ENTRIES=0 turns the cache off)`,
    );
  }
  const trustedProxies = (text("NATTER_TRUSTED_PROXIES") ?? "")
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  const notAddresses = trustedProxies.filter((a) => isIP(a) === 0);
  if (notAddresses.length > 0)
    problems.push(
      `NATTER_TRUSTED_PROXIES: ${notAddresses.map((a) => `"${a}"`).join(", ")} not an IP address: list the proxies' addresses, comma-separated`,
    );
  const httpHosts = (text("NATTER_HTTP_HOST") ?? "127.0.0.1,::1")
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  const badHosts = httpHosts.filter((a) => isIP(a) === 0);
  if (badHosts.length > 0 || httpHosts.length === 0)
    problems.push(
      `NATTER_HTTP_HOST: ${badHosts.map((a) => `"${a}"`).join(", ") || "empty"}: list IP addresses to listen on, comma-separated (0.0.0.0 or :: for every interface)`,
    );
  const metricsToken = text("NATTER_METRICS_TOKEN");
  if (metricsToken !== undefined && !/^[A-Za-z0-9._~+/=-]{16,256}$/.test(metricsToken))
    problems.push(
      "NATTER_METRICS_TOKEN: must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ + / = - (for example: openssl rand -hex 32)",
    );
  const maxConnText = text("NATTER_PRESENCE_MAX_CONNECTIONS") ?? "20";
  const presenceMaxConnections = Number(maxConnText);
  if (!Number.isInteger(presenceMaxConnections) || presenceMaxConnections < 1 || presenceMaxConnections > 1000) {
    problems.push(`NATTER_PRESENCE_MAX_CONNECTIONS: "${maxConnText}" must be a whole number from 1 to 1000`);
  }
  const publicUrl = origin("NATTER_PUBLIC_URL");
  const logLevel = text("LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL: "${logLevel}" must be one of ${LOG_LEVELS.join(", ")}`);

  const config: Config = Object.freeze({
    natsUrl: url("NATS_URL", ["nats:", "tls:", "ws:", "wss:"]),
    databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"]),
    oidcIssuer: url("OIDC_ISSUER", ["https:", "http:"]),
    oidcAudience: text("OIDC_AUDIENCE") ?? "natter",
    oidcJwksUri: url("OIDC_JWKS_URI", ["https:", "http:"]),
    ollamaHost: url("OLLAMA_HOST", ["http:", "https:"]),
    otelEndpoint: url("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]),
    dataDir: resolve(text("NATTER_DATA_DIR") ?? "./data"),
    port: port("PORT", 8080),
    httpHosts,
    metricsToken,
    rateLimit,
    queryRateLimit: limit("NATTER_QUERY_RATE_LIMIT", { burst: 60, perSecond: 30 }),
    httpRateLimit: limit("NATTER_HTTP_RATE_LIMIT", { burst: 120, perSecond: 60 }),
    presenceTimeoutMs,
    presenceHeartbeatMs,
    presenceMaxConnections,
    readCacheEntries,
    readCacheMb,
    trustedProxies,
    natsPort: port("NATTER_NATS_PORT", 4222),
    portsSet: Object.freeze({
      natsPort: text("NATTER_NATS_PORT") !== undefined,
      natsWsPort: text("NATTER_NATS_WS_PORT") !== undefined,
      natsMonitorPort: text("NATTER_NATS_MONITOR_PORT") !== undefined,
    }),
    natsWsPort: port("NATTER_NATS_WS_PORT", 9222),
    publicWsUrl: url("NATTER_PUBLIC_WS_URL", ["ws:", "wss:"]),
    publicUrl,
    natsMonitorPort: port("NATTER_NATS_MONITOR_PORT", 8222),
    streamReplicas,
    projectionLeaseMs,
    devAccessTokenTtlSeconds,
    logLevel,
    natsSeedFile: text("NATS_NKEY_SEED_FILE"),
    authKeysFile: resolve(
      text("NATTER_AUTH_KEYS_FILE") ?? `${text("NATTER_DATA_DIR") ?? "./data"}/auth/nats-keys.json`,
    ),
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * The configuration of this process's environment, for an entry point: on a bad variable it
 * prints what is wrong with each and exits 2.
 */
export function configOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    process.exit(2);
  }
}

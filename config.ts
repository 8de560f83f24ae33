import { resolve } from "node:path";
import { parseRateLimit, type RateLimit } from "./commands/index.ts";

/** natter's configuration, read from the environment once at start (DESIGN.md, "Running"). */
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
  rateLimit: RateLimit;
  natsPort: number;
  natsWsPort: number;
  /** The embedded nats-server's monitoring port, on loopback only. */
  natsMonitorPort: number;
  /** Replicas of the event stream (1 on one server, 3 in a cluster). */
  streamReplicas: number;
  /** A file holding this part's NATS service nkey seed, when NATS requires credentials. */
  natsSeedFile: string | undefined;
  /** The auth callout's key file (made at first start). */
  authKeysFile: string;
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
  let rateLimit: RateLimit = { burst: 30, perSecond: 10 };
  const rl = text("NATTER_RATE_LIMIT");
  if (rl !== undefined) {
    try {
      rateLimit = parseRateLimit(rl);
    } catch (err) {
      problems.push(`NATTER_RATE_LIMIT: ${(err as Error).message}`);
    }
  }
  const replicasText = text("NATTER_STREAM_REPLICAS") ?? "1";
  const streamReplicas = Number(replicasText);
  if (![1, 3, 5].includes(streamReplicas)) problems.push(`NATTER_STREAM_REPLICAS: "${replicasText}" must be 1, 3 or 5`);
  const leaseText = text("NATTER_PROJECTION_LEASE_MS") ?? "5000";
  const projectionLeaseMs = Number(leaseText);
  if (!Number.isInteger(projectionLeaseMs) || projectionLeaseMs < 300 || projectionLeaseMs > 600_000) {
    problems.push(`NATTER_PROJECTION_LEASE_MS: "${leaseText}" must be a whole number of milliseconds from 300 to 600000`);
  }
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
    rateLimit,
    natsPort: port("NATTER_NATS_PORT", 4222),
    natsWsPort: port("NATTER_NATS_WS_PORT", 9222),
    natsMonitorPort: port("NATTER_NATS_MONITOR_PORT", 8222),
    streamReplicas,
    projectionLeaseMs,
    logLevel,
    natsSeedFile: text("NATS_NKEY_SEED_FILE"),
    authKeysFile: resolve(text("NATTER_AUTH_KEYS_FILE") ?? `${text("NATTER_DATA_DIR") ?? "./data"}/auth/nats-keys.json`),
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

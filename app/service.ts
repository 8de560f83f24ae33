/**
 * Runs one part of natter alone against NATS_URL (and DATABASE_URL for the parts that need it):
 *   npm run service -- <part>
 * Several instances of a part share the work through NATS queue groups.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { readFile } from "node:fs/promises";
import { collectDefaultMetrics, Registry } from "prom-client";
import {
  createTokenVerifier,
  identityNames,
  loadOrCreateAuthKeys,
  serviceInboxPrefix,
  type ServiceName,
} from "../auth/index.ts";
import { openDatabase } from "../projections/index.ts";
import { connectNats, type ServiceCredentials } from "../streams/index.ts";
import { configOrExit, type Config } from "./config.ts";
import { guardedListener, listenHttp, serveHealth, serveMetrics } from "./http.ts";
import { startAuthPart, startCommandsPart, startLivePart, startProjectionsPart, startReadApiPart } from "./parts.ts";
import { createLogger, onShutdown } from "./process.ts";

type Part = {
  about: string;
  /** How the part signs in to NATS when the server requires credentials. */
  credentials: (config: Config) => Promise<ServiceCredentials | undefined>;
  start: (nc: NatsConnection, config: Config) => Promise<{ drain(): Promise<void> }>;
};

/** A service account's credentials from NATS_NKEY_SEED_FILE, when set. */
const seedFile =
  (name: ServiceName) =>
  async (config: Config): Promise<ServiceCredentials | undefined> =>
    config.natsSeedFile === undefined
      ? undefined
      : {
          seed: new TextEncoder().encode((await readFile(config.natsSeedFile, "utf8")).trim()),
          inboxPrefix: serviceInboxPrefix(name),
        };

const PARTS: Record<string, Part> = {
  auth: {
    about: "the NATS auth callout: checks access tokens (OIDC_ISSUER) and service keys (NATTER_AUTH_KEYS_FILE)",
    credentials: async (config) => {
      const keys = await loadOrCreateAuthKeys(config.authKeysFile);
      return { seed: keys.callout.getSeed(), inboxPrefix: "_INBOX_callout" };
    },
    start: async (nc, config) => {
      if (config.oidcIssuer === undefined)
        throw new Error(
          "OIDC_ISSUER is not set: the auth callout run alone checks tokens of a real issuer (npm start runs the development one)",
        );
      const keys = await loadOrCreateAuthKeys(config.authKeysFile);
      const verifier = createTokenVerifier({
        issuer: config.oidcIssuer,
        audience: config.oidcAudience,
        jwksUri: config.oidcJwksUri,
        log: createLogger(config, "auth"),
      });
      // The callout's own connection lives in the AUTH account: commands go over the identity service account's.
      const opened: NatsConnection[] = [];
      const connectIdentity = async () => {
        const c = await connectNats(config.natsUrl!, {
          name: "natter-identity",
          credentials: { seed: keys.services.identity.getSeed(), inboxPrefix: serviceInboxPrefix("identity") },
        });
        opened.push(c);
        return c;
      };
      const names = identityNames(connectIdentity, { log: createLogger(config, "auth") });
      const callout = await startAuthPart(nc, { config, keys, verifier, identityNames: names });
      await names.ready();
      return {
        async drain() {
          await callout.drain();
          await Promise.all(opened.map((c) => c.close()));
        },
      };
    },
  },
  projections: {
    credentials: seedFile("projections"),
    about:
      "the projectors: PostgreSQL read models (DATABASE_URL) and KV membership shards; one active per projection, others stand by",
    start: async (nc, config) => {
      if (config.databaseUrl === undefined)
        throw new Error(
          "DATABASE_URL is not set: projections run alone need PostgreSQL (PGlite serves one process only)",
        );
      const database = await openDatabase({ url: config.databaseUrl });
      const service = await startProjectionsPart(nc, database.db, { config });
      return {
        async drain() {
          await service.stop();
          await database.close();
        },
      };
    },
  },
  "read-api": {
    credentials: seedFile("gateway"),
    about:
      "the read API: HTTP on PORT (/api/, /healthz, /metrics) and NATS queries q.<uid>.<query> in queue group 'read-api'",
    start: async (nc, config) => {
      if (config.databaseUrl === undefined)
        throw new Error("DATABASE_URL is not set: the read API run alone reads the projections' PostgreSQL");
      if (config.oidcIssuer === undefined)
        throw new Error(
          "OIDC_ISSUER is not set: the read API run alone checks tokens of a real issuer (npm start runs the development one)",
        );
      const log = createLogger(config, "read-api");
      const database = await openDatabase({ url: config.databaseUrl });
      const registry = new Registry();
      collectDefaultMetrics({ register: registry });
      const api = await startReadApiPart(nc, database.db, {
        config,
        registry,
        verifier: createTokenVerifier({
          issuer: config.oidcIssuer,
          audience: config.oidcAudience,
          jwksUri: config.oidcJwksUri,
          log,
        }),
      });
      const listener = guardedListener(log, (req, res) => {
        if (api.handle(req, res)) return;
        const path = (req.url ?? "/").split("?")[0];
        if (path === "/metrics") return serveMetrics(req, res, registry, config.metricsToken);
        if (path === "/healthz") return serveHealth(res, () => api.health());
        res
          .writeHead(404, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { code: "not_found", message: `no such path: ${path}` } }));
        return undefined;
      });
      const servers = await listenHttp(listener, config.port, config.httpHosts, log);
      log.info({ port: config.port }, "read API listening");
      return {
        async drain() {
          for (const server of servers) server.close();
          await api.drain();
          await database.close();
        },
      };
    },
  },
  live: {
    credentials: seedFile("projections"),
    about:
      "live delivery: the fan-out to live.room.* and deliver.<uid>.>, typing and presence; one active instance, others stand by",
    start: async (nc, config) => {
      const live = await startLivePart(nc, { config });
      return { drain: () => live.stop() };
    },
  },
  commands: {
    credentials: seedFile("commands"),
    about: "the command service: cmd.> and admincmd.> in queue group 'commands'",
    start: (nc, config) => startCommandsPart(nc, { config }),
  },
};

const usage = `usage: npm run service -- <part>

Runs one part of natter against NATS_URL (required). Parts:
${Object.entries(PARTS)
  .map(([name, p]) => `  ${name.padEnd(12)} ${p.about}`)
  .join("\n")}

Configuration is read from the environment: see README.md.`;

async function main(argv: string[]): Promise<void> {
  const name = argv[0];
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(usage);
    process.exit(name === undefined ? 2 : 0);
  }
  const part = PARTS[name];
  if (part === undefined) {
    console.error(`error: unknown part "${name}"\n\n${usage}`);
    process.exit(2);
  }
  const config = configOrExit();
  if (config.natsUrl === undefined) {
    console.error(
      "error: NATS_URL is not set: a part run alone connects to a running NATS (npm start runs everything embedded)",
    );
    process.exit(2);
  }
  const log = createLogger(config, name);
  let nc: NatsConnection | undefined;
  let running: { drain(): Promise<void> } | undefined;
  const shutdown = onShutdown(log, async () => {
    await running?.drain();
    await nc?.close();
  });
  try {
    const credentials = await part.credentials(config);
    nc = await connectNats(config.natsUrl, { name: `natter-${name}`, ...(credentials ? { credentials } : {}) });
    running = await part.start(nc, config);
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    shutdown.fail(err);
  }
}

void main(process.argv.slice(2));

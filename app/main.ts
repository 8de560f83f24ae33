/**
 * `npm start`: every part of natter in one process tree, on embedded defaults where nothing is
 * configured (README, "Quick start").
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import {
  createTokenVerifier,
  identityNames,
  loadOrCreateAuthKeys,
  NATS_MAX_PAYLOAD,
  natsAuthConfig,
  serviceInboxPrefix,
  startDevIdp,
  type AuthKeys,
  type DevIdp,
  type ServiceName,
} from "../auth/index.ts";
import type { CommandService } from "../commands/index.ts";
import { configOrExit, type Config } from "./config.ts";
import { openDatabase, type Database, type ProjectionService } from "../projections/index.ts";
import type { ReadApi } from "../read-api/index.ts";
import { runtimeFilePath, writeRuntimeFile } from "../replay/context.ts";
import { startMaintenanceService } from "../replay/maintenanceService.ts";
import { guardedListener, listenHttp, serveHealth, serveMetrics } from "./http.ts";
import { startAuthPart, startCommandsPart, startLivePart, startProjectionsPart, startReadApiPart } from "./parts.ts";
import { choosePort, createLogger, onShutdown, portIsFree } from "./process.ts";
import { webHandler } from "./webServer.ts";
import { defaultWsUrl, IDP_PATH, webOrigins } from "./webOrigins.ts";
import { MAX_BODY } from "../domain/index.ts";
import { connectNats, startNatsServer, type NatsServer } from "../streams/index.ts";
import type { AuthCallout } from "../auth/index.ts";

async function main(): Promise<void> {
  const config = configOrExit();
  const log = createLogger(config, "natter");
  // Every part that started is stopped, in this order, on a signal, on a fatal error anywhere in
  // the process, and on a start that fails half-way: never a nats-server left behind.
  let embedded: NatsServer | undefined;
  let idp: DevIdp | undefined;
  let servers: Server[] = [];
  let readApi: ReadApi | undefined;
  let commands: CommandService | undefined;
  let live: Awaited<ReturnType<typeof startLivePart>> | undefined;
  let projections: ProjectionService | undefined;
  let callout: AuthCallout | undefined;
  let database: Database | undefined;
  let maintenance: ReturnType<typeof startMaintenanceService> | undefined;
  const connections: NatsConnection[] = [];
  const shutdown = onShutdown(log, async () => {
    for (const s of servers) s.close();
    await maintenance?.stop();
    await readApi?.drain();
    await commands?.drain();
    await live?.stop();
    await projections?.stop();
    await callout?.drain();
    await Promise.all(connections.map((c) => c.close()));
    await database?.close();
    await idp?.close();
    await embedded?.stop();
    await rm(runtimeFilePath(config.dataDir), { force: true });
  });
  try {
    await start(config, log);
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    shutdown.fail(err);
  }

  async function start(config: Config, log: ReturnType<typeof createLogger>): Promise<void> {
    for (const host of config.httpHosts) {
      if (!(await portIsFree(config.port, host)))
        throw new Error(`port ${config.port} is taken: set PORT to a free port (taken on ${host})`);
    }
    const origins = webOrigins(config.port, config.publicUrl);
    const origin = origins.primary;

    // NATS: the embedded server always runs with the auth callout; an external one does when this
    // data dir (or NATTER_AUTH_KEYS_FILE) holds the callout's keys.
    let natsUrl = config.natsUrl;
    let keys: AuthKeys | undefined;
    let monitor: { port: number } | undefined;
    if (natsUrl === undefined) {
      keys = await loadOrCreateAuthKeys(config.authKeysFile);
      const client = await choosePort("NATTER_NATS_PORT", config.natsPort, config.portsSet.natsPort);
      const ws = await choosePort("NATTER_NATS_WS_PORT", config.natsWsPort, config.portsSet.natsWsPort);
      monitor = await choosePort("NATTER_NATS_MONITOR_PORT", config.natsMonitorPort, config.portsSet.natsMonitorPort);
      if (client.moved)
        log.warn(
          `port ${config.natsPort} is taken: the embedded nats-server listens on ${client.port} (set NATTER_NATS_PORT to choose)`,
        );
      if (ws.moved)
        log.warn(
          `port ${config.natsWsPort} is taken: NATS WebSocket listens on ${ws.port} (set NATTER_NATS_WS_PORT to choose)`,
        );
      embedded = await startNatsServer({
        dir: join(config.dataDir, "nats"),
        port: client.port,
        wsPort: ws.port,
        wsAllowedOrigins: [...origins.all],
        maxPayload: NATS_MAX_PAYLOAD,
        extraConfig: natsAuthConfig(keys, { monitorPort: monitor.port }),
      });
      natsUrl = embedded.url;
      log.info({ url: natsUrl, dir: join(config.dataDir, "nats") }, "embedded nats-server started (auth callout on)");
    } else if (existsSync(config.authKeysFile)) {
      keys = await loadOrCreateAuthKeys(config.authKeysFile);
    }

    // Identity: Keycloak when OIDC_ISSUER is set, else the development identity provider.
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const issuer = config.oidcIssuer ?? origins.issuer;
    if (config.oidcIssuer === undefined) {
      idp = await startDevIdp({
        dataDir: config.dataDir,
        issuer,
        redirectUris: origins.redirectUris,
        log: createLogger(config, "idp"),
        audience: config.oidcAudience,
        accessTokenTtlSeconds: config.devAccessTokenTtlSeconds,
      });
    }
    const natsWsUrl = config.publicWsUrl ?? defaultWsUrl(embedded?.wsPort ?? config.natsWsPort, config.publicUrl);

    const web = webHandler(fileURLToPath(new URL("../web/dist", import.meta.url)), () => ({
      issuer,
      clientId: "natter-web",
      natsWsUrl,
      maxBody: MAX_BODY,
      presenceHeartbeatMs: config.presenceHeartbeatMs,
    }));
    let health = async (): Promise<{ status: string }> => ({ status: "starting" });
    const listener = guardedListener(log, (req, res) => {
      if (readApi?.handle(req, res)) return;
      const path = (req.url ?? "/").split("?")[0]!;
      if (idp !== undefined && (path === IDP_PATH || path.startsWith(`${IDP_PATH}/`))) {
        idp.handle(req, res);
        return;
      }
      if (path === "/metrics") return serveMetrics(req, res, registry, config.metricsToken);
      if (path === "/healthz") return serveHealth(res, health);
      return web(req, res);
    });
    servers = await listenHttp(listener, config.port, config.httpHosts, log);

    const connectAs = async (name: ServiceName | "callout" | undefined) => {
      const credentials =
        keys === undefined || name === undefined
          ? undefined
          : name === "callout"
            ? { seed: keys.callout.getSeed(), inboxPrefix: "_INBOX_callout" }
            : { seed: keys.services[name].getSeed(), inboxPrefix: serviceInboxPrefix(name) };
      const nc = await connectNats(natsUrl!, {
        name: `natter-${name ?? "main"}`,
        ...(credentials ? { credentials } : {}),
      });
      connections.push(nc);
      return nc;
    };

    // The public URL may not be reachable from here (a proxy in front): the keys are fetched from this process itself.
    const localJwks =
      idp !== undefined && config.publicUrl !== undefined
        ? `http://localhost:${config.port}${new URL(idp.jwksUri).pathname}`
        : undefined;
    const verifier = createTokenVerifier({
      issuer,
      audience: config.oidcAudience,
      jwksUri: config.oidcJwksUri ?? localJwks,
      log: createLogger(config, "auth"),
    });
    // One record of the names tokens give, for the NATS callout and HTTP alike.
    const names =
      keys === undefined
        ? undefined
        : identityNames(() => connectAs("identity"), { log: createLogger(config, "auth") });
    callout =
      keys === undefined
        ? undefined
        : await startAuthPart(await connectAs("callout"), { config, registry, keys, verifier, identityNames: names });
    await names?.ready();

    const runtime = {
      pid: process.pid,
      natsUrl,
      databaseUrl: config.databaseUrl ?? null,
      pgliteDir: config.databaseUrl ? null : join(config.dataDir, "pglite"),
    };
    // Before PGlite opens: a replay tool started meanwhile must find the folder taken, not open it too.
    await writeRuntimeFile(config.dataDir, { ...runtime, maintenance: null });
    database = await openDatabase({ url: config.databaseUrl, pgliteDir: join(config.dataDir, "pglite") });
    log.info(
      { database: database.where, kind: database.kind },
      config.databaseUrl ? "database: PostgreSQL" : "DATABASE_URL is not set: read models in PGlite under the data dir",
    );
    if (config.ollamaHost === undefined) log.info("OLLAMA_HOST is not set: translation is off");

    const commandsNc = await connectAs(keys ? "commands" : undefined);
    commands = await startCommandsPart(commandsNc, { config });
    const projectionsNc = keys ? await connectAs("projections") : commandsNc;
    projections = await startProjectionsPart(projectionsNc, database.db, { config, registry });
    live = await startLivePart(projectionsNc, { config, registry });
    const gatewayNc = keys ? await connectAs("gateway") : commandsNc;
    readApi = await startReadApiPart(gatewayNc, database.db, { config, registry, verifier, identityNames: names });
    // PGlite serves this process only: the replay tool's database work comes here to be done.
    maintenance =
      database.kind === "pglite"
        ? startMaintenanceService(keys ? await connectAs("replay") : commandsNc, database.db, {
            leaseMs: config.projectionLeaseMs,
            replicas: config.streamReplicas,
            log: createLogger(config, "maintenance"),
          })
        : undefined;
    await writeRuntimeFile(config.dataDir, {
      ...runtime,
      maintenance: maintenance ? { subject: maintenance.subject, token: maintenance.token } : null,
    });
    health = async () => {
      const up = connections.every((c) => !c.isClosed());
      const read = await readApi!.health();
      return {
        status: up && read.status === "ok" ? "ok" : "degraded",
        nats: up ? "connected" : "closed",
        database: read.database,
        projections: read.projections,
        commandsInFlight: commands!.inFlight,
        auth: callout ? "callout" : "off",
      };
    };

    const lines = [
      "natter is up",
      `  web            ${origin}/`,
      `  health         ${origin}/healthz`,
      `  read API       ${origin}/api/ (OpenAPI: ${origin}/api/openapi.json)`,
      `  NATS           ${natsUrl}`,
      ...(embedded?.wsPort ? [`  NATS WebSocket ${natsWsUrl}`] : []),
      ...(embedded ? [`  NATS monitor   http://127.0.0.1:${monitor!.port} (loopback only)`] : []),
      `  issuer         ${issuer}${idp ? " (development identity provider: alice, bob, charlie)" : ""}`,
      `  data           ${config.dataDir}`,
    ];
    console.log(lines.join("\n"));

    // SIGHUP rotates the development identity provider's signing key (the previous one stays published).
    process.on("SIGHUP", () => {
      void idp?.rotateKeys().then(
        () => log.info("identity provider: signing key rotated"),
        (err: unknown) => log.error({ err }, "identity provider: key rotation failed"),
      );
    });
  }
}

void main();

/**
 * `npm start`: every part of natter in one process tree, on embedded defaults where nothing is
 * configured (DESIGN.md, "Running").
 */
import { rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";
import { openDatabase, startProjections } from "./projections/index.ts";
import { runtimeFilePath } from "./replay/context.ts";
import { join } from "node:path";
import { startCommandService } from "./commands/index.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { choosePort, createLogger, onShutdown, portIsFree } from "./runtime.ts";
import { connectNats, startNatsServer, type NatsServer } from "./streams/index.ts";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    process.exit(2);
  }
  const log = createLogger(config, "natter");
  if (!(await portIsFree(config.port, "0.0.0.0"))) throw new Error(`port ${config.port} is taken: set PORT to a free port`);

  let embedded: NatsServer | undefined;
  let natsUrl = config.natsUrl;
  if (natsUrl === undefined) {
    const client = await choosePort("NATTER_NATS_PORT", config.natsPort, process.env["NATTER_NATS_PORT"] !== undefined);
    const ws = await choosePort("NATTER_NATS_WS_PORT", config.natsWsPort, process.env["NATTER_NATS_WS_PORT"] !== undefined);
    if (client.moved) log.warn(`port ${config.natsPort} is taken: the embedded nats-server listens on ${client.port} (set NATTER_NATS_PORT to choose)`);
    if (ws.moved) log.warn(`port ${config.natsWsPort} is taken: NATS WebSocket listens on ${ws.port} (set NATTER_NATS_WS_PORT to choose)`);
    embedded = await startNatsServer({ dir: join(config.dataDir, "nats"), port: client.port, wsPort: ws.port });
    natsUrl = embedded.url;
    log.info({ url: natsUrl, dir: join(config.dataDir, "nats") }, "embedded nats-server started");
  }
  const database = await openDatabase({ url: config.databaseUrl, pgliteDir: join(config.dataDir, "pglite") });
  log.info({ database: database.where, kind: database.kind }, config.databaseUrl ? "database: PostgreSQL" : "DATABASE_URL is not set: read models in PGlite under the data dir");
  if (config.ollamaHost === undefined) log.info("OLLAMA_HOST is not set: translation is off");

  const nc = await connectNats(natsUrl, { name: "natter" });
  const commands = await startCommandService(nc, {
    log: createLogger(config, "commands"),
    rateLimit: config.rateLimit,
    stream: { replicas: config.streamReplicas },
  });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const projections = await startProjections(nc, database.db, { log: createLogger(config, "projections"), registry, stream: { replicas: config.streamReplicas } });
  await writeFile(
    runtimeFilePath(config.dataDir),
    JSON.stringify({ pid: process.pid, natsUrl, databaseUrl: config.databaseUrl ?? null, pgliteDir: config.databaseUrl ? null : join(config.dataDir, "pglite") }),
  );

  const http = createServer((req, res) => {
    if (req.url === "/metrics") {
      void registry.metrics().then((text) => {
        res.writeHead(200, { "content-type": registry.contentType });
        res.end(text);
      });
      return;
    }
    if (req.url === "/healthz") {
      const up = !nc.isClosed();
      res.writeHead(up ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: up ? "ok" : "down", nats: up ? "connected" : "closed", commandsInFlight: commands.inFlight }));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: `no such path: ${req.url}` } }));
  });
  await new Promise<void>((resolve) => http.listen(config.port, "0.0.0.0", resolve));

  const lines = [
    "natter is up",
    `  web / health   http://localhost:${config.port}/healthz`,
    `  NATS           ${natsUrl}`,
    ...(embedded?.wsPort ? [`  NATS WebSocket ws://localhost:${embedded.wsPort}`] : []),
    `  data           ${config.dataDir}`,
  ];
  console.log(lines.join("\n"));

  onShutdown(log, async () => {
    http.close();
    await commands.drain();
    await projections.stop();
    await nc.close();
    await database.close();
    await embedded?.stop();
    await rm(runtimeFilePath(config.dataDir), { force: true });
  });
}

main().catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

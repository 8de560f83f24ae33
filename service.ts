/**
 * Runs one part of natter alone against NATS_URL (and DATABASE_URL for the parts that need it):
 *   npm run service -- <part>
 * Several instances of a part share the work through NATS queue groups.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { startCommandService } from "./commands/index.ts";
import { openDatabase, startProjections } from "./projections/index.ts";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { createLogger, onShutdown } from "./runtime.ts";
import { connectNats } from "./streams/index.ts";

const PARTS: Record<string, { about: string; start: (nc: NatsConnection, config: Config) => Promise<{ drain(): Promise<void> }> }> = {
  projections: {
    about: "the projectors: PostgreSQL read models (DATABASE_URL) and KV membership shards; one active per projection, others stand by",
    start: async (nc, config) => {
      if (config.databaseUrl === undefined) throw new Error("DATABASE_URL is not set: projections run alone need PostgreSQL (PGlite serves one process only)");
      const database = await openDatabase({ url: config.databaseUrl });
      const service = await startProjections(nc, database.db, {
        log: createLogger(config, "projections"),
        stream: { replicas: config.streamReplicas },
        leaseMs: config.projectionLeaseMs,
      });
      return {
        async drain() {
          await service.stop();
          await database.close();
        },
      };
    },
  },
  commands: {
    about: "the command service: cmd.> and admincmd.> in queue group 'commands'",
    start: (nc, config) =>
      startCommandService(nc, { log: createLogger(config, "commands"), rateLimit: config.rateLimit, stream: { replicas: config.streamReplicas } }),
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
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : String(err));
    process.exit(2);
  }
  if (config.natsUrl === undefined) {
    console.error("error: NATS_URL is not set: a part run alone connects to a running NATS (npm start runs everything embedded)");
    process.exit(2);
  }
  const log = createLogger(config, name);
  const nc = await connectNats(config.natsUrl, { name: `natter-${name}` });
  const running = await part.start(nc, config);
  onShutdown(log, async () => {
    await running.drain();
    await nc.close();
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

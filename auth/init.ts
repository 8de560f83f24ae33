/**
 * `npm run auth-init -- <dir>`: makes (or reuses) the NATS auth keys in `<dir>/nats-keys.json`,
 * writes `<dir>/nats-server.conf` (accounts, the auth callout, JetStream, WebSocket) for a
 * nats-server of natter's own, and `<dir>/seeds/<service>.nk` for each part run alone
 * (NATS_NKEY_SEED_FILE). For docker-compose and split deployments; `npm start` needs none of it.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadOrCreateAuthKeys, SERVICE_NAMES } from "./keys.ts";
import { NATS_MAX_PAYLOAD, natsAuthConfig } from "./natsConfig.ts";

const usage = `usage: npm run auth-init -- <dir> [--ws-origin <origin>]...

Writes <dir>/nats-keys.json (kept if present), <dir>/nats-server.conf and <dir>/seeds/<service>.nk.`;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    console.log(usage);
    return argv.length === 0 ? 2 : 0;
  }
  const dir = resolve(argv[0]!);
  const origins: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--ws-origin" && argv[i + 1]) origins.push(argv[++i]!);
    else {
      console.error(`error: unknown argument "${argv[i]}"\n\n${usage}`);
      return 2;
    }
  }
  const keys = await loadOrCreateAuthKeys(join(dir, "nats-keys.json"));
  const conf = [
    `listen: "0.0.0.0:4222"`,
    `jetstream { store_dir: "/data/jetstream" }`,
    `max_payload: ${NATS_MAX_PAYLOAD}`,
    `websocket { port: 9222, no_tls: true${origins.length ? `, allowed_origins: [ ${origins.map((o) => JSON.stringify(o)).join(", ")} ]` : ""} }`,
    natsAuthConfig(keys, { monitorPort: 8222 }),
  ].join("\n");
  await mkdir(join(dir, "seeds"), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "nats-server.conf"), `${conf}\n`);
  for (const name of SERVICE_NAMES) {
    const file = join(dir, "seeds", `${name}.nk`);
    await writeFile(file, `${new TextDecoder().decode(keys.services[name].getSeed())}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }
  console.log(
    `wrote ${join(dir, "nats-server.conf")} and seeds for ${SERVICE_NAMES.join(", ")} (keys: ${join(dir, "nats-keys.json")})`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  },
);

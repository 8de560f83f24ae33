/**
 * `npm run bench -- auth`: how fast the NATS auth callout lets people in. From one run:
 * connects per second and auth latency p50/p99 for N connections opened as fast as the callout
 * answers them, against the same N connections to a server without auth (the baseline, same
 * process); then a reconnect wave: 10% of the connections reconnecting at once (the reconnect
 * storm of the system we learn from), latency p50/p99 until each is back.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadOrCreateAuthKeys } from "../auth/keys.ts";
import { NATS_MAX_PAYLOAD, natsAuthConfig } from "../auth/natsConfig.ts";
import { userInboxPrefix } from "../auth/permissions.ts";
import { userIdFromSub } from "../domain/index.ts";
import { findNatsServerBinary, startNatsServer } from "../streams/index.ts";
import { startTestIssuer } from "../test/tokenIssuer.ts";
import { fmt, ms, parseOptions, Phase, say, startTempNats, summarize, verdict, windowed, type Suite } from "./lib.ts";

const defaults = { connections: 1000, concurrency: 64, wave: 0.1 };

async function openAll(url: string, tokens: (string | undefined)[], ids: string[], concurrency: number, label: string) {
  const conns: NatsConnection[] = new Array(tokens.length);
  const latencies: number[] = [];
  const phase = new Phase(label, tokens.length);
  await windowed(tokens.length, concurrency, async (i) => {
    const t0 = performance.now();
    try {
      conns[i] = await connect({
        servers: url,
        ...(tokens[i] ? { token: tokens[i], inboxPrefix: userInboxPrefix(ids[i]!) } : {}),
        noAsyncTraces: true,
        maxReconnectAttempts: 20,
        reconnectTimeWait: 50,
        reconnectJitter: 50,
        timeout: 20_000,
      });
      latencies.push(performance.now() - t0);
      phase.done++;
    } catch {
      phase.errors++;
    }
  });
  const seconds = phase.end();
  return { conns, latency: summarize(latencies), perSecond: phase.done / seconds, errors: phase.errors };
}

export const authSuite: Suite = {
  about: "connects/s and auth latency through the NATS auth callout, and a reconnect wave",
  usage: `usage: npm run bench -- auth [--connections N] [--concurrency C] [--wave F]

  --connections  connections to open (default ${defaults.connections})
  --concurrency  connects under way at once (default ${defaults.concurrency})
  --wave         share of the connections that reconnect at once (default ${defaults.wave})`,
  async run(args) {
    const o = parseOptions(args, defaults);
    const binary = await findNatsServerBinary();
    const issuer = await startTestIssuer();
    const names = Array.from({ length: o.connections }, (_, i) => `load-${i}`);
    say(`signing ${fmt(o.connections)} access tokens (RS256)`);
    const tokens = await Promise.all(names.map((n) => issuer.token(n, ["user"], {}, { expiresInSec: 3600 })));
    const ids = names.map((n) => userIdFromSub(issuer.subOf(n)));

    // Baseline: the same connects to a server that asks nothing.
    const plain = await startTempNats();
    const base = await openAll(
      plain.url,
      tokens.map(() => undefined),
      ids,
      o.concurrency,
      "baseline connects (no auth)",
    );
    await Promise.all(base.conns.filter(Boolean).map((c) => c.close()));
    await plain.stop();

    // natter: the auth callout in its own process, as `npm run service -- auth` runs it.
    const dir = await mkdtemp(join(tmpdir(), "natter-bench-auth-"));
    const keysFile = join(dir, "nats-keys.json");
    const keys = await loadOrCreateAuthKeys(keysFile);
    const server = await startNatsServer({
      binary,
      dir: join(dir, "nats"),
      extraConfig: natsAuthConfig(keys),
      maxPayload: NATS_MAX_PAYLOAD,
    });
    const child = spawn(process.execPath, ["--import", "tsx", "app/service.ts", "auth"], {
      env: {
        ...process.env,
        NATS_URL: server.url,
        NATTER_AUTH_KEYS_FILE: keysFile,
        OIDC_ISSUER: issuer.issuer,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    try {
      // Wait until the callout answers: a good token connects.
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          const nc = await connect({
            servers: server.url,
            token: tokens[0],
            inboxPrefix: userInboxPrefix(ids[0]!),
            maxReconnectAttempts: 0,
          });
          await nc.close();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`the auth callout did not come up: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      const natter = await openAll(server.url, tokens, ids, o.concurrency, "connects through the callout");

      const waveSize = Math.max(1, Math.round(o.connections * o.wave));
      const wave = natter.conns.filter(Boolean).slice(0, waveSize);
      say(`reconnect wave: ${fmt(wave.length)} connections reconnect at once`);
      const waveLatencies: number[] = [];
      const t0 = performance.now();
      await Promise.all(
        wave.map(async (nc) => {
          const back = (async () => {
            for await (const s of nc.status()) if (s.type === "reconnect") return;
          })();
          await nc.reconnect();
          await back;
          waveLatencies.push(performance.now() - t0);
        }),
      );
      const waveSummary = summarize(waveLatencies);
      const waveSeconds = (performance.now() - t0) / 1000;
      await Promise.all(natter.conns.filter(Boolean).map((c) => c.close()));

      const ratio = natter.perSecond / base.perSecond;
      console.log("");
      console.log(
        `auth bench — ${new Date().toISOString()}, nats-server ${plain.version}, ${fmt(o.connections)} connections, ${o.concurrency} at once`,
      );
      console.log(
        `  baseline, no auth:     ${fmt(base.perSecond)} connects/s, latency p50 ${ms(base.latency.p50)}, p99 ${ms(base.latency.p99)}`,
      );
      console.log(
        `  through the callout:   ${fmt(natter.perSecond)} connects/s, latency p50 ${ms(natter.latency.p50)}, p99 ${ms(natter.latency.p99)}, errors ${natter.errors}`,
      );
      console.log(`  ratio to baseline:     ${ratio.toFixed(2)}`);
      console.log(
        `  reconnect wave of ${wave.length}: all back in ${waveSeconds.toFixed(2)} s, p50 ${ms(waveSummary.p50)}, p99 ${ms(waveSummary.p99)}`,
      );
      console.log(
        `  every connection in:   ${verdict(natter.errors === 0)}; wave all back: ${verdict(waveLatencies.length === wave.length)}`,
      );
      return natter.errors === 0 ? 0 : 1;
    } finally {
      child.kill("SIGTERM");
      await server.stop();
      await issuer.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

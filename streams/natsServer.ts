import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The oldest nats-server natter runs on: batched direct get, auth callout, the 2025-26 fixes. */
export const MIN_NATS_VERSION = [2, 12, 0] as const;

/** True when the version string `v` (e.g. "2.15.1" or "v2.15.1-beta") is at least 2.12. */
export function isSupportedNatsVersion(v: string): boolean {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (m === null) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > MIN_NATS_VERSION[0] || (major === MIN_NATS_VERSION[0] && minor >= MIN_NATS_VERSION[1]);
}

/** Explains why a server is refused, for logs and errors. */
export function unsupportedVersionMessage(v: string): string {
  return (
    `nats-server ${v} is too old: natter needs ${MIN_NATS_VERSION.join(".")} or newer ` +
    `(batched direct get, auth callout, security fixes). Run "npm run nats-server" to obtain one, ` +
    `or point NATS_URL at a newer server.`
  );
}

/**
 * The path of a nats-server binary of 2.12 or newer: `scripts/nats-server.sh` finds one on PATH or
 * in the project's cache, or fetches Debian's package into the cache.
 */
export async function findNatsServerBinary(projectRoot = resolve(import.meta.dirname, "..")): Promise<string> {
  if (process.env["NATTER_NATS_SERVER"]) return process.env["NATTER_NATS_SERVER"];
  try {
    const { stdout } = await run("bash", [join(projectRoot, "scripts", "nats-server.sh")], { maxBuffer: 1 << 20 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Error(`could not obtain nats-server: ${(e.stderr ?? String(err)).trim()}`, { cause: err });
  }
}

export type NatsServerOptions = {
  /** The nats-server binary; found with findNatsServerBinary when absent. */
  binary?: string;
  /** The folder for the config file, the JetStream store and the log. */
  dir: string;
  /** Client port; 0 picks a free one. */
  port?: number;
  /** WebSocket port; undefined for none, 0 picks a free one. */
  wsPort?: number;
  /** Origins browsers may open the WebSocket from; undefined accepts any. */
  wsAllowedOrigins?: readonly string[];
  /** Listen address. */
  host?: string;
  /** The largest message a client may publish, in bytes (default 1 MiB). */
  maxPayload?: number;
  /** Extra text appended to the generated config (accounts, authorization, limits). */
  extraConfig?: string;
  /** Seconds to wait for the server to listen. */
  startTimeoutSec?: number;
};

/** A nats-server child process. */
export type NatsServer = {
  readonly url: string;
  readonly port: number;
  readonly wsPort: number | undefined;
  readonly process: ChildProcess;
  readonly configFile: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
};

/**
 * A watchdog that stops the server when this process is gone, however it went (a SIGKILL, a crash
 * past every handler): a nats-server left running would hold the data dir and the ports, and the
 * next start would meet it. It polls both processes twice a second and ends when either has exited.
 */
function watchParent(childPid: number): void {
  const script =
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done; if kill -0 "$2" 2>/dev/null; then kill -TERM "$2"; for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$2" 2>/dev/null || exit 0; sleep 0.5; done; kill -KILL "$2" 2>/dev/null; fi; exit 0';
  const watchdog = spawn("/bin/sh", ["-c", script, "natter-nats-watchdog", String(process.pid), String(childPid)], {
    stdio: "ignore",
    detached: true,
  });
  watchdog.on("error", () => undefined);
  watchdog.unref();
}

/**
 * Starts a nats-server with JetStream storing under `dir`, and resolves once it accepts clients.
 * A port that is taken rejects with a message naming the port.
 */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServer> {
  const binary = options.binary ?? (await findNatsServerBinary());
  const host = options.host ?? "127.0.0.1";
  await mkdir(join(options.dir, "jetstream"), { recursive: true });
  const configFile = join(options.dir, "nats-server.conf");
  const port = options.port ?? 0;
  const lines = [
    `listen: "${host}:${port === 0 ? -1 : port}"`,
    `jetstream { store_dir: ${JSON.stringify(join(options.dir, "jetstream"))} }`,
    `max_payload: ${options.maxPayload ?? 1024 * 1024}`,
  ];
  if (options.wsPort !== undefined) {
    const origins =
      options.wsAllowedOrigins === undefined
        ? ""
        : `, allowed_origins: [ ${options.wsAllowedOrigins.map((o) => JSON.stringify(o)).join(", ")} ]`;
    lines.push(
      `websocket { host: "${host}", port: ${options.wsPort === 0 ? -1 : options.wsPort}, no_tls: true${origins} }`,
    );
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  await writeFile(configFile, lines.join("\n") + "\n");

  const child = spawn(binary, ["-c", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const ready = new Promise<{ port: number; wsPort: number | undefined }>((resolveReady, reject) => {
    let clientPort: number | undefined;
    let wsPort: number | undefined;
    const timer = setTimeout(
      () => reject(new Error(`nats-server did not start within ${options.startTimeoutSec ?? 20} s:\n${log}`)),
      (options.startTimeoutSec ?? 20) * 1000,
    );
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      if (log.length < 64_000) log += chunk;
      const c = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (c) clientPort = Number(c[1]);
      const w = /Listening for websocket clients on [^\s]*:(\d+)/.exec(log);
      if (w) wsPort = Number(w[1]);
      if (
        /Server is ready/.test(log) &&
        clientPort !== undefined &&
        (options.wsPort === undefined || wsPort !== undefined)
      ) {
        clearTimeout(timer);
        resolveReady({ port: clientPort, wsPort });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      const inUse = /address already in use/i.test(log);
      reject(
        new Error(
          inUse
            ? `nats-server could not listen: ${port} or ${options.wsPort} is in use\n${log}`
            : `nats-server exited with ${code}:\n${log}`,
        ),
      );
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  const ports = await ready;
  watchParent(child.pid!);
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null) r();
    else child.once("exit", () => r());
  });
  return {
    url: `nats://${host}:${ports.port}`,
    port: ports.port,
    wsPort: ports.wsPort,
    process: child,
    configFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

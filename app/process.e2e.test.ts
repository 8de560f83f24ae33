import { readdir, readFile } from "node:fs/promises";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { childEnv, logLine, spawnTsx } from "../test/childProcess.ts";
import { startApp, type App } from "../web/e2e/harness.ts";

/** The pids of the nats-server processes whose parent is `parent`. */
async function natsServersOf(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    const ppid = (await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "")).split(") ")[1]?.split(" ")[1];
    if (cmdline.includes("nats-server") && ppid === String(parent)) pids.push(Number(entry));
  }
  return pids;
}

/** The local addresses of the sockets listening on TCP `port`, as the kernel lists them (/proc/net/tcp and tcp6). */
async function listenersOn(port: number): Promise<string[]> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const out: string[] = [];
  for (const [file, v6] of [
    ["/proc/net/tcp", false],
    ["/proc/net/tcp6", true],
  ] as const) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state !== "0A" || local === undefined || !local.endsWith(`:${hexPort}`)) continue;
      const hex = local.slice(0, local.indexOf(":"));
      if (!v6) out.push([3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join("."));
      else
        out.push(
          hex === "00000000000000000000000001000000"
            ? "::1"
            : hex === "00000000000000000000000000000000"
              ? "::"
              : `v6:${hex}`,
        );
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `pid` has exited; rejects after `ms`. */
async function gone(pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > until) throw new Error(`process ${pid} is still running after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends `raw` bytes on a fresh connection and resolves with everything the server sent back before closing. */
function rawRequest(port: number, raw: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
    socket.on("data", (c) => {
      chunks.push(c);
      // One answer is enough: the server may keep the connection open for the next request.
      if (Buffer.concat(chunks).includes("\r\n\r\n")) socket.end();
    });
    socket.on("error", (err) => (chunks.length > 0 ? resolve(Buffer.concat(chunks).toString("latin1")) : reject(err)));
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    // Written, not ended: node's HTTP server drops the answer to a client that half-closed before it came.
    socket.write(raw);
  });
}

describe("npm start under hostile HTTP", () => {
  let app: App;
  let port: number;
  beforeAll(async () => {
    // The per-address limit would answer most of the fuzzing with 429 before it reached a handler.
    app = await startApp({ NATTER_HTTP_RATE_LIMIT: "off" });
    port = Number(new URL(app.url).port);
  }, 90_000);
  afterAll(async () => app?.stop());

  test("a malformed percent-encoding is a 400, and the system goes on answering", async () => {
    for (const path of [
      "/%E0%A4%A",
      "/%",
      "/assets/%ZZ",
      "/api/rooms/%E0%A4%A/messages",
      "/realms/natter/%E0%A4%A",
      "/%00",
    ]) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    expect((await fetch(`${app.url}/%E0%A4%A`)).status).toBe(400);
    expect(app.child.running()).toBe(true);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  test("fuzzed requests (paths, percent-encodings, methods, headers, bodies): every answer is HTTP and the process lives", async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
      fc.constantFrom(
        "api",
        "rooms",
        "realms",
        "natter",
        "assets",
        "metrics",
        "healthz",
        "config.json",
        "..",
        ".",
        "%2e%2e",
        "%2F",
        "openapi.json",
        "messages",
        "threads",
      ),
      fc
        .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 })
        .map((bytes) => bytes.map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("")),
      fc.constantFrom("%", "%E0%A4%A", "%C0%AF", "%ED%BF%BF", "%00", "%FF%FE", "%u0041"),
    );
    const target = fc.oneof(
      fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => `/${s.join("/")}`),
      fc
        .tuple(fc.array(segment, { maxLength: 3 }), fc.array(fc.tuple(segment, segment), { maxLength: 3 }))
        .map(([s, q]) => `/${s.join("/")}?${q.map(([k, v]) => `${k}=${v}`).join("&")}`),
      fc.constantFrom(
        "*",
        "//",
        "http://[",
        "http://evil.example/x",
        "/api/rooms?before=-1&limit=1e9",
        "/api/search?q=%00",
      ),
    );
    const method = fc.constantFrom(
      "GET",
      "HEAD",
      "POST",
      "PUT",
      "DELETE",
      "OPTIONS",
      "PATCH",
      "TRACE",
      "CONNECT",
      "PROPFIND",
      "G\u00c9T",
    );
    const headerValue = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom("Bearer x", "Bearer ", "Basic YTpi", "\u00ff\u00fe", "a".repeat(9000)),
    );
    const header = fc.tuple(
      fc.constantFrom(
        "Authorization",
        "Content-Type",
        "Content-Length",
        "X-Forwarded-For",
        "Cookie",
        "Origin",
        "Transfer-Encoding",
        "Range",
        "Accept",
        "X-Bogus",
      ),
      headerValue,
    );
    const body = fc.oneof(
      fc.constant(""),
      fc.json(),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString("latin1")),
    );
    await fc.assert(
      fc.asyncProperty(method, target, fc.array(header, { maxLength: 5 }), body, async (m, t, headers, b) => {
        const head = [
          `${m} ${t} HTTP/1.1`,
          "Host: 127.0.0.1",
          ...headers.map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, " ")}`),
        ];
        if (!headers.some(([k]) => k === "Content-Length" || k === "Transfer-Encoding"))
          head.push(`Content-Length: ${Buffer.byteLength(b, "latin1")}`);
        head.push("Connection: close");
        const answer = await rawRequest(port, Buffer.from(`${head.join("\r\n")}\r\n\r\n${b}`, "latin1"));
        expect(answer, `${m} ${t}`).toMatch(/^HTTP\/1\.1 [1-5]\d\d /);
        expect(app.child.running()).toBe(true);
      }),
      { numRuns: 1000 },
    );
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  }, 180_000);

  test("the HTTP port listens on loopback only by default (127.0.0.1 and ::1)", async () => {
    const listening = await listenersOn(port);
    expect(listening.length).toBeGreaterThan(0);
    for (const address of listening) expect(["127.0.0.1", "::1"], address).toContain(address);
    expect(listening).toContain("127.0.0.1");
  });

  test("/metrics answers this machine, and not a request forwarded from elsewhere", async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${app.url}/metrics`, { headers: { "x-forwarded-for": "203.0.113.9" } })).status).toBe(403);
  });

  test("a SIGKILLed npm start leaves no nats-server behind", async () => {
    const other = await startApp();
    const mine = await natsServersOf(other.child.process.pid!);
    expect(mine).toHaveLength(1);
    other.child.process.kill("SIGKILL");
    await other.child.exited;
    await gone(mine[0]!, 10_000);
    await other.stop();
  }, 90_000);
});

describe("a fatal error in a natter process", () => {
  for (const how of ["throw", "reject"] as const) {
    test(`an ${how === "throw" ? "uncaught exception" : "unhandled rejection"} is logged, stops the embedded nats-server and exits 1`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "natter-fatal-"));
      try {
        const child = spawnTsx(
          "test/fixtures/fatalChild.ts",
          [dir, how],
          childEnv({ NATTER_NATS_SERVER: inject("natsServerBinary") }),
        );
        const pid = Number((await child.waitForLine((l) => l.startsWith("nats-server "), 30_000)).split(" ")[1]);
        const exit = await child.exited;
        expect(exit.code).toBe(1);
        const fatal = child.lines.map(logLine).find((l) => l?.["level"] === 60);
        expect(fatal?.["msg"]).toMatch(how === "throw" ? /uncaught exception/ : /unhandled rejection/);
        expect(JSON.stringify(fatal?.["err"])).toContain(
          how === "throw" ? "an exception nobody catches" : "a rejected promise nobody handles",
        );
        // Stopped by the process itself on its way out, not by the watchdog after it.
        expect(alive(pid)).toBe(false);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});

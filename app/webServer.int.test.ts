import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webHandler, type WebConfig } from "./webServer.ts";

const config: WebConfig = {
  issuer: "http://localhost:8080/realms/natter",
  clientId: "natter-web",
  natsWsUrl: "ws://localhost:9222",
  maxBody: 8000,
  presenceHeartbeatMs: 10_000,
};
let dir: string;
let server: Server;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "natter-web-"));
  await mkdir(join(dir, "dist", "assets"), { recursive: true });
  await writeFile(join(dir, "dist", "index.html"), "<!doctype html><title>natter</title>");
  await writeFile(join(dir, "dist", "assets", "app-abc123.js"), "console.log(1)");
  await writeFile(join(dir, "secret.txt"), "outside the web root");
  const handle = webHandler(join(dir, "dist"), () => config);
  server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the web client's files", () => {
  it("serves hashed assets for good and the page with a strict policy", async () => {
    const asset = await fetch(`${base}/assets/app-abc123.js`);
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("cache-control")).toContain("immutable");
    const page = await fetch(`${base}/rooms/01ABC`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>natter</title>");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).toContain("connect-src 'self' http://localhost:8080 ws://localhost:9222");
    expect(page.headers.get("cache-control")).toBe("no-cache");
  });

  it("answers /config.json and never a file outside its folder", async () => {
    expect(await (await fetch(`${base}/config.json`)).json()).toEqual(config);
    const escape = await fetch(`${base}/%2e%2e/secret.txt`);
    expect(await escape.text()).not.toContain("outside the web root");
    expect((await fetch(`${base}/`, { method: "POST" })).status).toBe(405);
  });

  it("says how to build when the client is not built", async () => {
    const handle = webHandler(join(dir, "nothing"), () => config);
    const s = createServer((req, res) => void handle(req, res));
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("npm run web:build");
    s.close();
  });
});

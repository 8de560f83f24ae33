import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { WebSocket } from "ws";
import { afterEach, expect, test } from "vitest";
import { startAuthSystem, type AuthSystem } from "../test/authHarness.ts";
import { startTestIssuer, type TestIssuer } from "../test/tokenIssuer.ts";
import { userIdFromSub } from "../domain/index.ts";
import { createTokenVerifier } from "./tokenVerifier.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A system whose token checks (real ones) wait for `gate` first, to hold requests in flight. */
async function gatedSystem(options: { maxConcurrent?: number; timeoutMs?: number }) {
  const issuer: TestIssuer = await startTestIssuer();
  const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: "natter" });
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "info" },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  const sys: AuthSystem = await startAuthSystem({
    verify: async (t) => {
      await gate;
      return verifier.verify(t);
    },
    log,
    commands: false,
    ...options,
  });
  cleanups.push(async () => {
    open();
    await sys.stop();
    await issuer.close();
  });
  return { issuer, sys, lines, open };
}

test("over the concurrency bound, a connect is refused at once as overloaded; the held ones get in", async () => {
  const { issuer, sys, lines, open } = await gatedSystem({ maxConcurrent: 2 });
  const token = await issuer.token("bob", ["user"]);
  const inbox = `_INBOX.${userIdFromSub(issuer.subOf("bob"))}`;
  const attempt = () =>
    connect({ servers: sys.server.url, token, inboxPrefix: inbox, maxReconnectAttempts: 0, timeout: 10_000 });
  const held = [attempt(), attempt()];
  // Wait until both are in the callout before the third asks.
  const deadline = Date.now() + 5000;
  while (sys.callout.inFlight < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(sys.callout.inFlight).toBe(2);
  await expect(attempt()).rejects.toThrow(/Authorization Violation/);
  expect(lines.some((l) => l["msg"] === "auth refused" && l["outcome"] === "overloaded")).toBe(true);
  open();
  for (const nc of await Promise.all(held)) await nc.close();
  expect(await sys.registry.getSingleMetricAsString("natter_auth_requests_total")).toMatch(/outcome="overloaded"} 1/);
});

test("a decision that takes longer than the timeout is refused as timeout", async () => {
  const { issuer, sys, lines } = await gatedSystem({ timeoutMs: 200 });
  const token = await issuer.token("bob", ["user"]);
  await expect(connect({ servers: sys.server.url, token, maxReconnectAttempts: 0, timeout: 10_000 })).rejects.toThrow(
    /Authorization Violation/,
  );
  expect(lines.find((l) => l["msg"] === "auth refused")?.["outcome"]).toBe("timeout");
});

test("the WebSocket listener takes only the allowed origins", async () => {
  const issuer = await startTestIssuer();
  const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: "natter" });
  const sys = await startAuthSystem({
    verify: (t) => verifier.verify(t),
    commands: false,
    wsAllowedOrigins: ["http://localhost:8080"],
  });
  cleanups.push(async () => {
    await sys.stop();
    await issuer.close();
  });
  const tryOrigin = (origin: string) =>
    new Promise<"open" | "refused">((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${sys.server.wsPort}`, { headers: { origin } });
      ws.once("open", () => {
        ws.close();
        resolve("open");
      });
      ws.once("error", () => resolve("refused"));
      ws.once("unexpected-response", () => resolve("refused"));
    });
  expect(await tryOrigin("http://localhost:8080")).toBe("open");
  expect(await tryOrigin("http://evil.example")).toBe("refused");
});

import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startAuthSystem, type AuthSystem } from "../test/authHarness.ts";
import { BAD_TOKEN_CASES, startTokenLab, type TokenLab } from "./testing/craftedTokens.ts";
import { createTokenVerifier } from "./tokenVerifier.ts";

let lab: TokenLab;
let sys: AuthSystem;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  lab = await startTokenLab();
  const verifier = createTokenVerifier({ issuer: lab.issuer, audience: lab.audience });
  const log = pino(
    { level: "info" },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  sys = await startAuthSystem({ verify: (t) => verifier.verify(t), log, commands: false });
});
afterAll(async () => {
  await sys.stop();
  await lab.close();
});

test(`${BAD_TOKEN_CASES.length} bad tokens are refused at connect, each for its own reason, and none is logged`, async () => {
  expect(BAD_TOKEN_CASES.length).toBeGreaterThanOrEqual(20);
  const seen: { name: string; want: string; got: unknown }[] = [];
  const tokens: string[] = [];
  for (const c of BAD_TOKEN_CASES) {
    const token = await c.make(lab);
    tokens.push(token);
    const before = lines.length;
    const err = await connect({ servers: sys.server.url, token, maxReconnectAttempts: 0, noAsyncTraces: true }).then(
      async (nc) => {
        await nc.close();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err, c.name).not.toBeNull();
    // An empty token reaches the callout as no credentials at all.
    const line = lines.slice(before).find((l) => l["msg"] === "auth refused");
    seen.push({ name: c.name, want: token === "" ? "no_credentials" : c.reason, got: line?.["outcome"] });
  }
  expect(seen.filter((s) => s.want !== s.got)).toEqual([]);
  expect(new Set(seen.map((s) => s.got)).size).toBeGreaterThanOrEqual(10);
  const logged = JSON.stringify(lines);
  for (const t of tokens.filter((t) => t.length > 20)) expect(logged).not.toContain(t);
});

test("a good token of the same issuer connects (the refusals above are not a blanket no)", async () => {
  const token = await lab.sign(lab.claims());
  const nc = await connect({ servers: sys.server.url, token, maxReconnectAttempts: 0, noAsyncTraces: true });
  expect(nc.info?.server_id).toBeTruthy();
  await nc.close();
});

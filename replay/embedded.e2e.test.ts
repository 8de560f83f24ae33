import { stat } from "node:fs/promises";
import { readFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { keysFile, loadOrCreateAuthKeys, serviceInboxPrefix } from "../auth/index.ts";
import { PROJECTIONS } from "../projections/index.ts";
import { connectNats } from "../streams/index.ts";
import { logLine } from "../test/childProcess.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { replayCli, type ReplayCli } from "../test/replayCli.ts";
import { natsAs, startApp, type App } from "../web/e2e/harness.ts";
import { runtimeFilePath, UsageError, type RuntimeFile } from "./context.ts";
import { runRemote } from "./remote.ts";

// `npm start` on embedded defaults (PGlite in-process), and the replay CLI run beside it as an
// operator would: the same data dir, nothing else configured.
let app: App;
let cli: ReplayCli;
let alice: { nc: NatsConnection; userId: string };
let aliceToken: string;
let roomId: string;
let posted = 0;
let lastSeq = 0;

const runtime = (): RuntimeFile => JSON.parse(readFileSync(runtimeFilePath(app.dataDir), "utf8")) as RuntimeFile;

async function post(body: string): Promise<void> {
  const r = await mustSend(alice.nc, alice.userId, "msg.post", { roomId, body });
  posted++;
  lastSeq = Math.max(lastSeq, r.seq);
}

async function messagesPage(minSeq = 0): Promise<Response> {
  return fetch(`${app.url}/api/rooms/${roomId}/messages?limit=200&minSeq=${minSeq}`, {
    headers: { authorization: `Bearer ${aliceToken}` },
  });
}

beforeAll(async () => {
  app = await startApp({
    LOG_LEVEL: "info",
    NATTER_RATE_LIMIT: "off",
    NATTER_QUERY_RATE_LIMIT: "off",
    NATTER_HTTP_RATE_LIMIT: "off",
    NATTER_DEV_TOKEN_TTL: "3600",
  });
  cli = await replayCli(undefined, undefined, { NATTER_DATA_DIR: app.dataDir });
  alice = await natsAs(app, "alice");
  const res = await fetch(`${app.url}/realms/natter/protocol/openid-connect/token`, {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "password",
      client_id: "natter-cli",
      username: "alice",
      password: "alice123",
    }),
  });
  aliceToken = ((await res.json()) as { access_token: string }).access_token;
  roomId = (await mustSend(alice.nc, alice.userId, "room.create", { name: "ops", kind: "public" })).result[
    "roomId"
  ] as string;
  // Enough of a log that a rebuild takes a while, in parallel runs of 20.
  for (let i = 0; i < 60; i++) await Promise.all(Array.from({ length: 20 }, (_, j) => post(`before ${i * 20 + j}`)));
}, 180_000);

afterAll(async () => {
  await alice?.nc.close();
  await cli?.close();
  await app?.stop();
});

test("the runtime file names where natter takes the tool's work and is readable by its user only", async () => {
  expect((await stat(runtimeFilePath(app.dataDir))).mode & 0o777).toBe(0o600);
  const r = runtime();
  expect(r).toMatchObject({
    databaseUrl: null,
    maintenance: { subject: expect.stringMatching(/^natter\.replay\.maintenance\.[0-9a-f]+$/) },
  });
  expect(r.maintenance!.token.length).toBeGreaterThanOrEqual(40);
});

test("list shows every projection, caught up, with its active projector", async () => {
  const page = await messagesPage(lastSeq);
  expect(page.status).toBe(200);
  const r = await cli.json<{ projection: string; kind: string; checkpoint: number; lag: number; active: string }>([
    "list",
  ]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.rows.map((x) => x.projection).sort()).toEqual([...PROJECTIONS.keys()].sort());
  const timeline = r.rows.find((x) => x.projection === "timeline")!;
  expect(timeline).toMatchObject({ kind: "pg", checkpoint: lastSeq });
  for (const row of r.rows) expect(row.active, row.projection).toMatch(/^\d+-/);
  const table = await cli.run(["list"]);
  expect(table.code, table.stderr).toBe(0);
  expect(table.lines[0]).toMatch(/^projection\s+kind\s+version\s+checkpoint\s+lag\s+parked\s+state\s+active$/);
});

test("rebuild timeline completes while commands flow, and natter keeps answering commands, /healthz and the read API", async () => {
  const before = posted;
  let flowing = true;
  const during = { commands: 0, health: 0, reads: 0 };
  let inRebuild = false;
  const loops = [
    (async () => {
      for (let i = 0; flowing; i++) {
        await post(`during ${i}`);
        if (inRebuild) during.commands++;
      }
    })(),
    (async () => {
      while (flowing) {
        const h = await fetch(`${app.url}/healthz`);
        expect(h.status, await h.text()).toBe(200);
        if (inRebuild) during.health++;
      }
    })(),
    (async () => {
      while (flowing) {
        const page = await messagesPage();
        expect(page.status).toBe(200);
        expect(((await page.json()) as { messages: unknown[] }).messages.length).toBeGreaterThan(0);
        if (inRebuild) during.reads++;
      }
    })(),
  ];
  const isMaintenance = (msg: string) => (l: string) => {
    const j = logLine(l);
    return j?.["msg"] === msg && (j["operation"] as { op?: string } | undefined)?.op === "rebuild";
  };
  const started = app.child
    .waitForLine(isMaintenance("maintenance: started for the replay tool"), 120_000)
    .then(() => (inRebuild = true));
  const finished = app.child.waitForLine(isMaintenance("maintenance: done"), 120_000).then(() => (inRebuild = false));
  let r: Awaited<ReturnType<typeof cli.json<{ projection: string; applied: number; seq: number }>>> | undefined;
  try {
    r = await cli.json<{ projection: string; applied: number; seq: number }>(["rebuild", "timeline"], 120_000);
    await Promise.all([started, finished]);
  } finally {
    flowing = false;
    await Promise.all(loops);
  }
  if (r === undefined) throw new Error("the rebuild did not run");
  expect(r.code, r.stderr).toBe(0);
  expect(r.rows).toHaveLength(1);
  expect(r.rows[0]!.projection).toBe("timeline");
  expect(r.rows[0]!.applied).toBeGreaterThan(before);
  // The progress bar came back from natter to the CLI's stderr.
  expect(r.stderr).toMatch(/timeline .*events \| \d+ ev\/s/);
  expect(posted).toBeGreaterThan(before);
  expect(during.commands, "commands answered during the rebuild").toBeGreaterThan(0);
  expect(during.health, "/healthz answered during the rebuild").toBeGreaterThan(0);
  expect(during.reads, "read API pages during the rebuild").toBeGreaterThan(0);

  // The swapped-in timeline goes on with what came during and after the rebuild.
  await post("after the rebuild");
  const page = await messagesPage(lastSeq);
  expect(page.status).toBe(200);
  expect(page.headers.get("natter-stale")).toBeNull();
  const bodies = ((await page.json()) as { messages: { body: string }[] }).messages.map((m) => m.body);
  expect(bodies.at(-1)).toBe("after the rebuild");
  const list = await cli.json<{ projection: string; checkpoint: number; lag: number }>(["list"]);
  expect(list.rows.find((x) => x.projection === "timeline")!.checkpoint).toBe(lastSeq);
}, 180_000);

test("verify all finds no differences", async () => {
  await messagesPage(lastSeq);
  const r = await cli.run(["verify", "all"], 120_000);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain("verify: no differences (all)");
}, 150_000);

test("failures lists no parked events", async () => {
  const r = await cli.run(["failures"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.lines).toHaveLength(2);
  expect(r.lines[0]).toMatch(/^projection\s+seq\s+subject\s+type\s+status\s+attempts\s+parkedAt\s+error$/);
  const retry = await cli.json(["failures", "--retry"]);
  expect(retry.code, retry.stderr).toBe(0);
  expect(retry.rows).toEqual([]);
});

test("audit answers from the read model, a result bigger than one NATS message included", async () => {
  await messagesPage(lastSeq);
  const all = await cli.json<{ seq: number; type: string; roomId: string; actor: string }>([
    "audit",
    "--room",
    roomId,
    "--type",
    "MessagePosted",
    "--limit",
    "100000",
  ]);
  expect(all.code, all.stderr).toBe(0);
  expect(all.rows).toHaveLength(posted);
  expect(all.rows.every((x) => x.type === "MessagePosted" && x.roomId === roomId && x.actor === alice.userId)).toBe(
    true,
  );
  expect(all.rows.map((x) => x.seq)).toEqual([...all.rows.map((x) => x.seq)].sort((a, b) => a - b));
  expect(JSON.stringify(all.rows).length).toBeGreaterThan(64 * 1024);
  // Times travel to natter and back as dates.
  const none = await cli.json(["audit", "--room", roomId, "--until", "2000-01-01T00:00:00Z"]);
  expect(none.code, none.stderr).toBe(0);
  expect(none.rows).toEqual([]);
  const csv = await cli.run(["audit", "--room", roomId, "--type", "RoomCreated", "--format", "csv"]);
  expect(csv.code, csv.stderr).toBe(0);
  expect(csv.lines).toHaveLength(2);
  expect(csv.lines[1]).toContain(roomId);
});

test("a usage error from natter's side exits 2 with its one-line reason", async () => {
  const r = await cli.run(["failures", "members"]);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe("error: members keeps no parked events (only PostgreSQL projections park)");
});

test("only the operator is heard: a signed-in admin cannot send maintenance requests, a wrong token is refused", async () => {
  const { subject } = runtime().maintenance!;
  // alice is a realm admin; her permissions still keep her off natter.> altogether.
  await expect(
    alice.nc.request(
      subject,
      JSON.stringify({ token: "x", operation: { op: "rebuild", projection: "timeline", keepOld: false } }),
      { timeout: 5000 },
    ),
  ).rejects.toThrow(/permission/i);
  // She can still send commands after it.
  expect((await sendCommand(alice.nc, alice.userId, "msg.post", { roomId, body: "still here" })).ok).toBe(true);
  posted++;

  const keys = await loadOrCreateAuthKeys(keysFile(app.dataDir));
  const replay = await connectNats(app.natsUrl, {
    credentials: { seed: keys.services.replay.getSeed(), inboxPrefix: serviceInboxPrefix("replay") },
  });
  try {
    const quiet = { bar: () => ({ update() {}, stop() {} }), note() {} };
    const target = { pid: runtime().pid, subject, token: "not the token" };
    await expect(runRemote(replay, target, { op: "list" }, quiet)).rejects.toThrow(UsageError);
    await expect(runRemote(replay, target, { op: "list" }, quiet)).rejects.toThrow(
      /does not carry this natter's maintenance token/,
    );
    // A runtime file whose natter takes no requests (another instance's subject) fails at once, saying so.
    await expect(
      runRemote(replay, { ...target, subject: "natter.replay.maintenance.0" }, { op: "list" }, quiet),
    ).rejects.toThrow(/takes no maintenance requests/);
    // Malformed requests get a typed refusal too, not silence.
    const inbox = `${serviceInboxPrefix("replay")}.bad`;
    const sub = replay.subscribe(inbox, { max: 1 });
    replay.publish(
      subject,
      JSON.stringify({ token: runtime().maintenance!.token, operation: { op: "drop everything" } }),
      { reply: inbox },
    );
    for await (const m of sub)
      expect(m.json()).toMatchObject({
        kind: "error",
        code: "invalid",
        message: expect.stringMatching(/^not a maintenance request: /),
      });
  } finally {
    await replay.close();
  }
});

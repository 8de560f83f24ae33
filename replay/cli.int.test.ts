import { afterAll, beforeAll, expect, test } from "vitest";
import { PROJECTIONS } from "../projections/index.ts";
import { mustSend } from "../test/commandClient.ts";
import { inBatches, replayCli, type ReplayCli } from "../test/replayCli.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";

let s: SystemHarness;
let cli: ReplayCli;
beforeAll(async () => {
  s = await startSystem();
  cli = await replayCli(s.server.url, s.database.url);
  const roomId = (await mustSend(s.nc, "alice", "room.create", { name: "listed", kind: "public" })).result[
    "roomId"
  ] as string;
  await mustSend(s.nc, "bob", "room.join", { roomId });
  const m = (await mustSend(s.nc, "bob", "msg.post", { roomId, body: "hello" })).result["messageId"] as string;
  await mustSend(s.nc, "alice", "msg.react", { roomId, messageId: m, emoji: "👍" });
  await mustSend(s.nc, "bob", "user.profile", { displayName: "Bob" });
  // The log ends with a message event, which neither rooms nor members read.
  const last = await mustSend(s.nc, "alice", "msg.post", { roomId, body: "last" });
  await s.caughtUp(last.seq);
});
afterAll(async () => {
  await cli?.close();
  await s?.stop();
});

test("every command has --help, and it exits 0", async () => {
  const commands = ["list", "rebuild", "verify", "audit", "inspect", "failures"];
  const runs = await inBatches(
    [[], ...commands.map((c) => [c])].map((c) => () => cli.run([...c, "--help"]).then((r) => ({ c, r }))),
    2,
  );
  for (const { c, r } of runs) {
    expect(r.code, `${c.join(" ")} --help: ${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(
      c.length === 0
        ? /^Usage: npm run replay -- \[options\] \[command\]/
        : new RegExp(`^Usage: npm run replay -- ${c[0]} `),
    );
  }
  // The top-level help names every command.
  const top = runs[0]!.r.stdout;
  for (const c of commands) expect(top).toContain(`  ${c} `);
});

test("list shows the five projections, each at the log's position for what it reads, with no lag", async () => {
  const log = await s.allEvents();
  const lastOf = (pattern: RegExp) => Math.max(0, ...log.filter((e) => pattern.test(e.subject)).map((e) => e.seq));
  const want: Record<string, number> = {
    rooms: lastOf(/^ev\.(room|user)\./),
    timeline: lastOf(/^ev\.msg\./),
    audit: log.at(-1)!.seq,
    members: lastOf(/^ev\.room\./),
    threads: lastOf(/^ev\.msg\./),
  };
  expect(want["audit"]).toBe(await s.lastSeq());
  expect(want["rooms"]).toBeLessThan(want["audit"]!);

  const r = await cli.json<{
    projection: string;
    kind: string;
    version: string;
    checkpoint: number;
    lag: number;
    parked: number | string;
    active: string;
  }>(["list"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.rows.map((x) => x.projection).sort()).toEqual([...PROJECTIONS.keys()].sort());
  for (const row of r.rows) {
    const p = PROJECTIONS.get(row.projection)!;
    expect(row, row.projection).toMatchObject({
      kind: p.kind,
      version: String(p.version),
      checkpoint: want[row.projection],
      lag: 0,
    });
    expect(row.active, `${row.projection} has an active projector`).not.toBe("none");
    if (p.kind === "pg") expect(row.parked).toBe(0);
  }
});

test("inspect shows the stream's checks passing and natter's consumers, and exits 0", async () => {
  type Inspect = {
    stream: { stream: string; messages: number; last_seq: number };
    checks: { check: string; value: unknown; status: string }[];
    problems: string[];
    consumers: { consumer: string; filter: string; pending: number }[];
  };
  const r = await cli.json<Inspect>(["inspect"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.rows).toHaveLength(1);
  const info = r.rows[0]!;
  expect(info.stream).toMatchObject({
    stream: "CHAT_EVENTS",
    messages: await s.lastSeq(),
    last_seq: await s.lastSeq(),
  });
  const status = Object.fromEntries(info.checks.map((c) => [c.check, c.status]));
  expect(status).toMatchObject({ deny_delete: "ok", deny_purge: "ok", allow_direct: "ok", retention: "ok" });
  expect(info.checks.find((c) => c.check === "deny_delete")!.value).toBe(true);
  expect(info.problems).toEqual([]);
  const consumers = new Map(info.consumers.map((c) => [c.consumer, c]));
  for (const name of PROJECTIONS.keys()) {
    expect(consumers.get(`natter_${name}`), `consumer natter_${name}`).toBeDefined();
    expect(consumers.get(`natter_${name}`)!.pending).toBe(0);
  }
  expect(consumers.get("natter_timeline")!.filter).toBe("ev.msg.>");

  const table = await cli.run(["inspect"]);
  expect(table.code, table.stderr).toBe(0);
  expect(table.stdout).toMatch(/^deny_delete\s+true\s+ok$/m);
  expect(table.stdout).toMatch(/^deny_purge\s+true\s+ok$/m);
  for (const name of PROJECTIONS.keys()) expect(table.stdout).toMatch(new RegExp(`^natter_${name}\\s`, "m"));
});

import { afterAll, beforeAll, expect, test } from "vitest";
import type { TsxChild } from "../test/childProcess.ts";
import { mustSend } from "../test/commandClient.ts";
import { startCommandHarness, type CommandHarness } from "../test/commandHarness.ts";
import { openTestDatabase } from "../test/database.ts";
import { exactlyOnceFacts, spawnProjectionService, startCommandLoad, verifyAll, waitAllApplied, waitActive } from "../test/projectionProcesses.ts";

const LEASE_MS = 1500;
let h: CommandHarness;
let database: Awaited<ReturnType<typeof openTestDatabase>>;
const children: TsxChild[] = [];
beforeAll(async () => { h = await startCommandHarness(); database = await openTestDatabase(); });
afterAll(async () => { for (const c of children) { c.process.kill("SIGCONT"); } await Promise.all(children.map((c) => c.stop("SIGKILL"))); await h?.stop(); await database?.close(); });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("sigstop", async () => {
  const url = database.url!;
  const rooms: string[] = [];
  const users = ["ann", "ben", "cat", "dan", "eve", "fay"];
  for (const name of ["one", "two"]) {
    const roomId = (await mustSend(h.nc, "owner", "room.create", { name, kind: "public" })).result["roomId"] as string;
    for (const u of users) await mustSend(h.nc, u, "room.join", { roomId });
    rooms.push(roomId);
  }
  const a = spawnProjectionService(h.server.url, url, LEASE_MS); children.push(a);
  await waitActive(a);
  const b = spawnProjectionService(h.server.url, url, LEASE_MS); children.push(b);
  const load = startCommandLoad(h.nc, users, rooms);
  let x = a, y = b;
  for (let k = 0; k < 6; k++) {
    await sleep(1000);
    x.process.kill("SIGSTOP");
    await sleep(LEASE_MS + 1500 + Math.random() * 1000);
    x.process.kill("SIGCONT");
    [x, y] = [y, x];
  }
  await load.stop();
  await sleep(3000);
  const fs = await import("node:fs");
  try { await waitAllApplied(h.nc, database.db, undefined, 20_000); } catch (e) {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const jsm = await jetstreamManager(h.nc);
    for await (const ci of jsm.consumers.list("CHAT_EVENTS")) console.log("CI", ci.name, JSON.stringify({ pending: ci.num_pending, ack: ci.num_ack_pending, waiting: ci.num_waiting, delivered: ci.delivered, floor: ci.ack_floor, redelivered: ci.num_redelivered }));
    throw e;
  } finally {
    fs.writeFileSync("/tmp/scratch/a.log", a.lines.join("\n") + "\n" + a.stderr());
    fs.writeFileSync("/tmp/scratch/b.log", b.lines.join("\n") + "\n" + b.stderr());
  }
  const facts = await exactlyOnceFacts(h.nc, database.db);
  console.log("A", a.lines.filter((l) => /active|standing|another|lost|error/.test(l)).length, "B", b.lines.filter((l) => /active|standing|another/.test(l)).length);
  console.log(a.lines.filter((l) => /another|warn|error/i.test(l)).slice(0, 5), b.lines.filter((l) => /another|warn|error/i.test(l)).slice(0, 5));
  expect(facts.parked).toEqual([]);
  expect(facts.auditSeqs).toEqual(facts.streamSeqs);
  expect(facts.messageIds).toEqual(facts.postedIds);
  expect(await verifyAll(h.nc, database.db, LEASE_MS)).toEqual([]);
}, 120_000);

import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { childEnv, runTsx } from "../test/childProcess.ts";
import { mustSend } from "../test/commandClient.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { query, type Db } from "./db.ts";
import { verifyPg } from "./maintenance.ts";
import { listParked, readCheckpoint, type ParkedEvent } from "./pgStore.ts";
import { waitForApplied } from "./readYourWrites.ts";
import { timelineProjection } from "./timeline/projection.ts";
import { auditProjection } from "./audit/projection.ts";

/** The "bug": the timeline's database refuses a message whose body is `poison`. */
async function installPoisonTrigger(db: Db): Promise<void> {
  await db.execute(sql`CREATE OR REPLACE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.body = 'poison' THEN RAISE EXCEPTION 'poisoned message %', NEW.message_id; END IF;
      RETURN NEW;
    END $$`);
  await db.execute(sql`DROP TRIGGER IF EXISTS refuse_poison ON natter_timeline.messages`);
  await db.execute(
    sql`CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON natter_timeline.messages FOR EACH ROW EXECUTE FUNCTION public.refuse_poison()`,
  );
}

/** The "fix". */
async function dropPoisonTrigger(db: Db): Promise<void> {
  await db.execute(sql`DROP TRIGGER refuse_poison ON natter_timeline.messages`);
}

/** `npm run replay -- <args> --format json` against the system: exit status and rows. */
async function replay(
  s: SystemHarness,
  ...args: string[]
): Promise<{ code: number | null; rows: Record<string, unknown>[]; stderr: string }> {
  const r = await runTsx(
    "replay/cli.ts",
    [...args, "--format", "json"],
    childEnv({ NATS_URL: s.server.url, DATABASE_URL: s.database.url }),
    60_000,
  );
  const rows = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.code, rows, stderr: r.stderr };
}

const parkedOf = (s: SystemHarness, schema = timelineProjection.liveSchema) => listParked(s.database.db, schema);
const brief = (rows: ParkedEvent[]) => rows.map((r) => ({ seq: r.seq, type: r.type, status: r.status }));

async function bodies(s: SystemHarness, roomId: string): Promise<string[]> {
  const rows = await query<{ body: string }>(
    s.database.db,
    sql`SELECT body FROM natter_timeline.messages WHERE room_id = ${roomId} ORDER BY seq`,
  );
  return rows.map((r) => r.body);
}

function requirePostgres(s: SystemHarness): void {
  if (s.database.url === undefined)
    throw new Error("the replay CLI runs as a child process here: this test needs a real PostgreSQL");
}

describe("hold (the default): a poison event is parked, its aggregate's later events held, the rest goes on", () => {
  let s: SystemHarness;
  let roomA: string;
  let roomB: string;
  beforeAll(async () => {
    s = await startSystem();
    requirePostgres(s);
    roomA = (await mustSend(s.nc, "alice", "room.create", { name: "a", kind: "public" })).result["roomId"] as string;
    roomB = (await mustSend(s.nc, "alice", "room.create", { name: "b", kind: "public" })).result["roomId"] as string;
    for (const roomId of [roomA, roomB]) await mustSend(s.nc, "bob", "room.join", { roomId });
    const first = await mustSend(s.nc, "alice", "msg.post", { roomId: roomA, body: "a0" });
    await s.caughtUp(first.seq);
    await installPoisonTrigger(s.database.db);
  });
  afterAll(async () => {
    await s?.stop();
  });

  test("parked with its error, its edit held, other messages appear; failures --retry after the fix applies both in order", async () => {
    const poison = await mustSend(s.nc, "alice", "msg.post", { roomId: roomA, body: "poison" });
    const poisonId = poison.result["messageId"] as string;
    await mustSend(s.nc, "bob", "msg.post", { roomId: roomA, body: "a1" });
    const edit = await mustSend(s.nc, "alice", "msg.edit", { roomId: roomA, messageId: poisonId, body: "cured" });
    await mustSend(s.nc, "bob", "msg.post", { roomId: roomB, body: "b1" });
    const last = await mustSend(s.nc, "bob", "msg.post", { roomId: roomA, body: "a2" });
    await s.caughtUp(last.seq);

    expect(await bodies(s, roomA)).toEqual(["a0", "a1", "a2"]);
    expect(await bodies(s, roomB)).toEqual(["b1"]);
    const parked = await parkedOf(s);
    expect(brief(parked)).toEqual([
      { seq: poison.seq, type: "MessagePosted", status: "failed" },
      { seq: edit.seq, type: "MessageEdited", status: "held" },
    ]);
    expect(parked[0]!.error).toContain(`poisoned message ${poisonId}`);
    expect(parked[0]!.attempts).toBe(3);
    // The other projections took the same events without trouble.
    expect(await parkedOf(s, auditProjection.liveSchema)).toEqual([]);

    const listed = await replay(s, "failures");
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.rows.map((r) => [r["projection"], r["seq"], r["status"]])).toEqual([
      ["timeline", poison.seq, "failed"],
      ["timeline", edit.seq, "held"],
    ]);
    expect(String(listed.rows[0]!["error"])).toContain("poisoned message");

    await dropPoisonTrigger(s.database.db);
    const retried = await replay(s, "failures", "--retry");
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.rows.map((r) => [r["seq"], r["outcome"]])).toEqual([
      [poison.seq, "applied"],
      [edit.seq, "applied"],
    ]);
    expect(await parkedOf(s)).toEqual([]);
    expect(await bodies(s, roomA)).toEqual(["a0", "cured", "a1", "a2"]);

    // The projector no longer holds the aggregate: its next event applies at once.
    const again = await mustSend(s.nc, "alice", "msg.edit", {
      roomId: roomA,
      messageId: poisonId,
      body: "cured twice",
    });
    await s.caughtUp(again.seq);
    expect(await bodies(s, roomA)).toEqual(["a0", "cured twice", "a1", "a2"]);
    expect(await parkedOf(s)).toEqual([]);
    expect(await verifyPg({ nc: s.nc, db: s.database.db, leaseMs: 2000 }, timelineProjection)).toEqual([]);
  });

  test("failures --skip drops a poison event and applies what it held; verify shows just the dropped message", async () => {
    await installPoisonTrigger(s.database.db);
    const poison = await mustSend(s.nc, "alice", "msg.post", { roomId: roomB, body: "poison" });
    const poisonId = poison.result["messageId"] as string;
    const react = await mustSend(s.nc, "bob", "msg.react", { roomId: roomB, messageId: poisonId, emoji: "🧪" });
    const last = await mustSend(s.nc, "bob", "msg.post", { roomId: roomB, body: "b2" });
    await s.caughtUp(last.seq);
    expect(brief(await parkedOf(s))).toEqual([
      { seq: poison.seq, type: "MessagePosted", status: "failed" },
      { seq: react.seq, type: "ReactionAdded", status: "held" },
    ]);
    expect(await bodies(s, roomB)).toEqual(["b1", "b2"]);

    const skipped = await replay(s, "failures", "--skip");
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.rows.map((r) => [r["seq"], r["outcome"]])).toEqual([
      [poison.seq, "skipped"],
      [react.seq, "applied"],
    ]);
    await dropPoisonTrigger(s.database.db);
    expect(await parkedOf(s)).toEqual([]);
    expect(await bodies(s, roomB)).toEqual(["b1", "b2"]);
    // The live model lacks the message on purpose; a rebuild from the log has it.
    const diffs = await verifyPg({ nc: s.nc, db: s.database.db, leaseMs: 2000 }, timelineProjection);
    expect(diffs.map((d) => [d.table, d.side, (d.row as { message_id: string }).message_id])).toEqual([
      ["messages", "rebuilt only", poisonId],
    ]);
  });

  test("an undecodable event is parked as failed by each projection that reads it; the rest goes on", async () => {
    const js = jetstream(s.nc);
    const h = headers();
    h.set("Natter-Type", "MessagePosted");
    h.set("Natter-Schema", "2");
    const ack = await js.publish("ev.msg.r.m", JSON.stringify({ roomId: "r" }), { headers: h });
    const after = await mustSend(s.nc, "bob", "msg.post", { roomId: roomA, body: "after the bad one" });
    await s.caughtUp(after.seq);
    expect((await bodies(s, roomA)).at(-1)).toBe("after the bad one");
    for (const schema of [timelineProjection.liveSchema, auditProjection.liveSchema]) {
      const parked = await parkedOf(s, schema);
      expect(brief(parked), schema).toEqual([{ seq: ack.seq, type: "MessagePosted", status: "failed" }]);
      expect(parked[0]!.error).toContain(`event ${ack.seq}`);
    }
    const audited = await query(s.database.db, sql`SELECT seq FROM natter_audit.event_log WHERE seq = ${after.seq}`);
    expect(audited).toHaveLength(1);

    // No fix can make it readable: a retry fails again and leaves it parked; a skip drops it.
    const retried = await replay(s, "failures", "--retry");
    expect(retried.code).toBe(1);
    expect(retried.rows.map((r) => [r["projection"], r["seq"], r["outcome"]])).toEqual([
      ["timeline", ack.seq, "failed"],
      ["audit", ack.seq, "failed"],
    ]);
    expect(await parkedOf(s)).toHaveLength(1);
    const skipped = await replay(s, "failures", "--skip");
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(await parkedOf(s)).toEqual([]);
    expect(await parkedOf(s, auditProjection.liveSchema)).toEqual([]);
  });
});

describe("halt: the projection stops at a poison event until it is retried", () => {
  let s: SystemHarness;
  let roomId: string;
  beforeAll(async () => {
    s = await startSystem({ projections: { poison: { timeline: "halt" } } });
    requirePostgres(s);
    roomId = (await mustSend(s.nc, "alice", "room.create", { name: "halt", kind: "public" })).result[
      "roomId"
    ] as string;
    await mustSend(s.nc, "bob", "room.join", { roomId });
    const first = await mustSend(s.nc, "alice", "msg.post", { roomId, body: "h0" });
    await s.caughtUp(first.seq);
    await installPoisonTrigger(s.database.db);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const checkpoint = async () =>
    (await readCheckpoint(s.database.db, timelineProjection.liveSchema, timelineProjection.name))?.seq ?? 0;

  test("later messages do not appear, failures shows it halted; after the fix and --retry the timeline catches up", async () => {
    const poison = await mustSend(s.nc, "alice", "msg.post", { roomId, body: "poison" });
    await mustSend(s.nc, "bob", "msg.post", { roomId, body: "h1" });
    const last = await mustSend(s.nc, "bob", "msg.post", { roomId, body: "h2" });

    // Nothing announces a halt: poll the parked table, with a deadline.
    const deadline = Date.now() + 15_000;
    while ((await parkedOf(s)).length === 0) {
      if (Date.now() > deadline) throw new Error("the timeline never parked the poison event");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(brief(await parkedOf(s))).toEqual([{ seq: poison.seq, type: "MessagePosted", status: "halted" }]);
    expect(await waitForApplied(s.nc, s.store, timelineProjection, checkpoint, last.seq, 1500)).toBe(false);
    expect(await checkpoint()).toBe(poison.seq - 1);
    expect(await bodies(s, roomId)).toEqual(["h0"]);
    // Only the timeline halts: the audit log has everything.
    const auditCheckpoint = async () =>
      (await readCheckpoint(s.database.db, auditProjection.liveSchema, auditProjection.name))?.seq ?? 0;
    expect(await waitForApplied(s.nc, s.store, auditProjection, auditCheckpoint, last.seq, 10_000)).toBe(true);

    const listed = await replay(s, "failures", "timeline");
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.rows.map((r) => [r["seq"], r["status"]])).toEqual([[poison.seq, "halted"]]);
    expect(String(listed.rows[0]!["error"])).toContain("poisoned message");

    await dropPoisonTrigger(s.database.db);
    const retried = await replay(s, "failures", "timeline", "--retry");
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.rows.map((r) => [r["seq"], r["outcome"]])).toEqual([[poison.seq, "applied"]]);
    expect(await waitForApplied(s.nc, s.store, timelineProjection, checkpoint, last.seq, 15_000)).toBe(true);
    expect(await bodies(s, roomId)).toEqual(["h0", "poison", "h1", "h2"]);
    expect(await parkedOf(s)).toEqual([]);
    expect(await verifyPg({ nc: s.nc, db: s.database.db, leaseMs: 2000 }, timelineProjection)).toEqual([]);
  });
});

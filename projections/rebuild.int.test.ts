import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MessageId, RoomId, UserId, type MessageEvent } from "../domain/index.ts";
import { childTrace, encodeEvent } from "../streams/index.ts";
import { childEnv, spawnTsx, type TsxChild } from "../test/childProcess.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { PROJECTIONS } from "./catalog.ts";
import { query } from "./db.ts";
import { MaintenanceError, rebuildKv, rebuildPg, verifyKv, verifyPg } from "./maintenance.ts";
import type { KvProjection } from "./projection.ts";
import { appliedSubject, type AppliedAnnouncement } from "./announcements.ts";
import { openCheckpointBucket } from "./kvCheckpoint.ts";
import { lockProjection, readCheckpoint } from "./pgStore.ts";
import { roomsProjection } from "./rooms/projection.ts";
import { timelineProjection } from "./timeline/projection.ts";

describe("a rebuild while commands keep flowing", () => {
  let s: SystemHarness;
  beforeAll(async () => {
    s = await startSystem();
  });
  afterAll(async () => {
    await s?.stop();
  });

  test("readers never see the counts drop, and verify is clean after the swap", async () => {
    const rooms: string[] = [];
    for (let i = 0; i < 4; i++) {
      const roomId = (await mustSend(s.nc, "alice", "room.create", { name: `busy ${i}`, kind: "public" })).result[
        "roomId"
      ] as string;
      await mustSend(s.nc, "bob", "room.join", { roomId });
      rooms.push(roomId);
    }
    // A backlog, so that the rebuild has something to build while the writers go on.
    const posted: { roomId: string; messageId: string }[] = [];
    let n = 0;
    await Promise.all(
      rooms.map(async (roomId) => {
        for (let i = 0; i < 150; i++) {
          const r = await mustSend(s.nc, i % 2 ? "alice" : "bob", "msg.post", { roomId, body: `backlog ${n++}` });
          posted.push({ roomId, messageId: r.result["messageId"] as string });
        }
      }),
    );
    await s.caughtUp(await s.lastSeq());

    // Writers: post, edit, react and now and then open a room, until told to stop.
    let writing = true;
    let writes = 0;
    const refusals: string[] = [];
    const writer = async (w: number) => {
      for (let i = 0; writing; i++) {
        const roomId = rooms[(i + w) % rooms.length]!;
        const target = posted[(i * 7 + w) % posted.length]!;
        const [action, body] =
          i % 25 === 24
            ? (["room.create", { name: `new ${w}.${i}`, kind: "public" }] as const)
            : i % 3 === 0
              ? (["msg.post", { roomId, body: `live ${w}.${i}` }] as const)
              : i % 3 === 1
                ? (["msg.edit", { ...target, body: `edited ${w}.${i}` }] as const)
                : (["msg.react", { ...target, emoji: i % 2 ? "👍" : "🎉" }] as const);
        // Edits need the author: posts alternate authors, so try as alice, then as bob.
        let reply = await sendCommand(s.nc, "alice", action, body);
        if (!reply.ok && reply.error.code === "forbidden") reply = await sendCommand(s.nc, "bob", action, body);
        if (reply.ok) {
          writes++;
          if (action === "msg.post") posted.push({ roomId, messageId: reply.result["messageId"] as string });
        } else refusals.push(`${action}: ${reply.error.code} ${reply.error.message}`);
      }
    };

    // The reader: counts in a tight loop, every reading kept.
    let reading = true;
    const readings: { messages: number; rooms: number }[] = [];
    const readErrors: string[] = [];
    const reader = async () => {
      while (reading) {
        try {
          const [row] = await query<{ messages: number; rooms: number }>(
            s.database.db,
            sql`SELECT (SELECT count(*) FROM natter_timeline.messages)::int AS messages, (SELECT count(*) FROM natter_rooms.rooms)::int AS rooms`,
          );
          readings.push(row!);
        } catch (err) {
          readErrors.push((err as Error).message);
        }
      }
    };

    const writers = [0, 1].map(writer);
    const readerDone = reader();
    const writesBefore = writes;
    const deps = { nc: s.nc, db: s.database.db };
    const readingsBefore = readings.length;
    const timeline = await rebuildPg(deps, timelineProjection);
    const readingsAtSwap = readings.length;
    const roomsResult = await rebuildPg(deps, roomsProjection);
    // Go on writing and reading a little past the swaps: the projectors resume on the new schemas.
    const resumeFrom = writes;
    while (writes < resumeFrom + 20)
      await sendCommand(s.nc, "alice", "msg.post", { roomId: rooms[0]!, body: "after the swap" }).then(
        (r) => r.ok && writes++,
      );
    writing = false;
    await Promise.all(writers);
    const last = await s.lastSeq();
    await s.caughtUp(last);
    reading = false;
    await readerDone;

    expect(timeline.swapped && roomsResult.swapped).toBe(true);
    expect(refusals).toEqual([]);
    expect(readErrors).toEqual([]);
    expect(writes - writesBefore, "commands went on during the rebuilds").toBeGreaterThan(20);
    expect(readingsAtSwap - readingsBefore, "readings while the timeline was being rebuilt").toBeGreaterThan(5);
    expect(readings[0]!.messages).toBeGreaterThanOrEqual(600);
    const drops = readings.flatMap((r, i) => {
      const prev = readings[i - 1];
      return prev !== undefined && (r.messages < prev.messages || r.rooms < prev.rooms)
        ? [{ at: i, before: prev, after: r }]
        : [];
    });
    expect(drops, "a reading lower than the one before it").toEqual([]);
    expect(readings.every((r) => r.messages > 0 && r.rooms > 0)).toBe(true);
    // The last reading, after catching up, is everything.
    const [final] = await query<{ n: number }>(
      s.database.db,
      sql`SELECT count(*)::int AS n FROM natter_timeline.messages`,
    );
    expect(readings.at(-1)!.messages).toBe(final!.n);

    for (const p of PROJECTIONS.values())
      expect(p.kind === "pg" ? await verifyPg(deps, p) : await verifyKv(deps, p), `verify ${p.name}`).toEqual([]);
  });

  test("a KV rebuild whose checkpoint another writer moved meanwhile fails and moves nothing back; the next run succeeds", async () => {
    const members = PROJECTIONS.get("members") as KvProjection;
    const roomId = (await mustSend(s.nc, "carol", "room.create", { name: "kv rebuild", kind: "public" })).result[
      "roomId"
    ] as string;
    await mustSend(s.nc, "dave", "room.join", { roomId });
    await s.caughtUp(await s.lastSeq());
    const cps = await openCheckpointBucket(s.nc);
    const at = (await cps.get(members.name))!.string();
    let moved: Promise<number> | undefined;
    // A projector that took over while the rebuild lost its lease: it writes the checkpoint during the
    // rebuild's reading. On the rebuild's own connection, so the server takes it before the rebuild's write.
    const interfering = rebuildKv(
      {
        nc: s.nc,
        progress: (x) => {
          if (x.phase === "reading") moved ??= cps.put(members.name, at);
        },
      },
      members,
    );
    await expect(interfering).rejects.toThrow(MaintenanceError);
    await expect(interfering).rejects.toThrow(/moved during the rebuild/);
    expect(moved).toBeDefined();
    await moved;
    expect((await cps.get(members.name))!.string()).toBe(at);

    const again = await rebuildKv({ nc: s.nc }, members);
    expect(again.swapped).toBe(true);
    expect(await verifyKv({ nc: s.nc }, members)).toEqual([]);
  });
});

describe("a rebuild killed mid-way", () => {
  let s: SystemHarness;
  let dataDir: string;
  beforeAll(async () => {
    // Only the timeline runs live: the bulk of this test is messages, and the machine is small.
    s = await startSystem({ projections: { only: ["timeline"] } });
    dataDir = await mkdtemp(join(tmpdir(), "natter-replay-"));
  });
  afterAll(async () => {
    await s?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The next stderr line of `child` that `match` accepts (lines already printed count). */
  function stderrLine(child: TsxChild, match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const seen = child.stderr().split(/\r?\n/).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      let partial = "";
      const onData = (chunk: string) => {
        const lines = (partial + chunk).split(/\r?\n/);
        partial = lines.pop()!;
        const hit = lines.find(match);
        if (hit !== undefined) done(() => resolve(hit));
      };
      const onExit = () => done(() => reject(new Error(`the CLI exited first; stderr:\n${child.stderr()}`)));
      const timer = setTimeout(
        () => done(() => reject(new Error(`no such stderr line within ${timeoutMs} ms; stderr:\n${child.stderr()}`))),
        timeoutMs,
      );
      const done = (f: () => void) => {
        clearTimeout(timer);
        child.process.stderr!.off("data", onData);
        child.process.off("close", onExit);
        f();
      };
      child.process.stderr!.on("data", onData);
      child.process.once("close", onExit);
    });
  }

  test("SIGKILLed after some batches, the CLI's next run resumes where it stopped and ends verified", async () => {
    const roomId = (await mustSend(s.nc, "alice", "room.create", { name: "bulk", kind: "public" })).result[
      "roomId"
    ] as string;
    // 15,000 posts, appended as the command service would append them, many in flight at once.
    const total = 15_000;
    let inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      const id = ulid();
      const event: MessageEvent = {
        type: "MessagePosted",
        data: {
          roomId: RoomId.parse(roomId),
          messageId: MessageId.parse(id),
          authorId: UserId.parse("alice"),
          body: `bulk ${i}`,
          mentions: [],
        },
      };
      const e = encodeEvent(event, {
        actor: "alice",
        commandId: id,
        correlationId: id,
        causationId: id,
        trace: childTrace(),
      });
      inFlight.push(
        s.store.js.publish(e.subject, e.payload, {
          headers: e.headers,
          msgID: e.msgId,
          expect: { lastSubjectSequence: 0 },
        }),
      );
      if (inFlight.length >= 1000) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    const lastSeq = await s.lastSeq();
    expect(lastSeq).toBe(total + 1);

    const env = childEnv({
      NATS_URL: s.server.url,
      DATABASE_URL: s.database.url,
      NATTER_DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
    });
    const next = `${timelineProjection.liveSchema}__next`;
    const db = s.database.db;

    // Hold the build's lock (the one every batch takes) so the CLI stops between two batches.
    let release!: () => void;
    const gate = () => {
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const released = new Promise<void>((r) => (release = r));
      const tx = db.transaction(async (t) => {
        await lockProjection(t, next);
        locked();
        await released;
      });
      return { isLocked, tx };
    };
    /** Resolves once `n` sessions wait for an advisory lock in this database (nothing announces it: look, up to a deadline). */
    const waitingForLock = async (n: number) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const [row] = await query<{ n: number }>(
          db,
          sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (row!.n >= n) return;
        if (Date.now() > deadline) throw new Error(`${n} sessions never waited for the build lock`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    const first = gate();
    await first.isLocked;
    const cli = spawnTsx("replay/cli.ts", ["rebuild", "timeline", "--format", "json"], env);
    try {
      // The CLI waits at its first batch; let exactly that one through, then hold it again.
      await waitingForLock(1);
      const releaseFirst = release;
      const second = gate();
      // The test queues behind the CLI before letting it go: the CLI's batch, then the test, then the CLI again.
      await waitingForLock(2);
      releaseFirst();
      await first.tx;
      await second.isLocked;
      await waitingForLock(1);
      const line = await stderrLine(cli, (l) => {
        const m = /building .*\| (\d+)\/(\d+) events/.exec(l);
        return m !== null && Number(m[1]) > 0 && Number(m[1]) < Number(m[2]);
      });
      const [, applied, known] = /(\d+)\/(\d+) events/.exec(line)!;
      expect(Number(applied)).toBeLessThan(Number(known));
      const exit = await cli.stop("SIGKILL");
      expect(exit.signal).toBe("SIGKILL");
      release();
      await second.tx;
    } finally {
      if (cli.running()) await cli.stop("SIGKILL");
      release();
    }
    const left = await readCheckpoint(db, next, timelineProjection.name);
    expect(left?.seq ?? 0, "the killed run left a partial build").toBeGreaterThan(0);
    expect(left!.seq).toBeLessThan(lastSeq);
    const liveBefore = await readCheckpoint(db, timelineProjection.liveSchema, timelineProjection.name);
    expect(liveBefore, "the live timeline is still there").not.toBeNull();

    // Readers that keep answers hear of the swap from the CLI, which exits right after it.
    const swaps: AppliedAnnouncement[] = [];
    const listener = s.nc.subscribe(appliedSubject(timelineProjection.name), {
      callback: (_e, m) => {
        const a = m.json<AppliedAnnouncement>();
        if (a.rooms === null) swaps.push(a);
      },
    });
    await s.nc.flush();
    const again = spawnTsx("replay/cli.ts", ["rebuild", "timeline", "--format", "json"], env);
    const exit = await again.exited;
    await s.nc.flush();
    listener.unsubscribe();
    expect(swaps.map((a) => a.seq)).toEqual([lastSeq]);
    expect(exit, again.stderr()).toEqual({ code: 0, signal: null });
    expect(again.stderr()).toContain(`timeline: resuming the build an earlier run left at seq ${left!.seq}`);
    const result = JSON.parse(again.lines.find((l) => l.startsWith("{"))!) as {
      projection: string;
      applied: number;
      seq: number;
    };
    expect(result.projection).toBe("timeline");
    expect(result.seq).toBe(lastSeq);
    // It applied only what the killed run had not: the events after the checkpoint it left.
    expect(result.applied).toBe(lastSeq - left!.seq);
    expect(await readCheckpoint(db, next, timelineProjection.name)).toBeNull();
    await s.caughtUp(lastSeq, 60_000);
    const [count] = await query<{ n: number }>(db, sql`SELECT count(*)::int AS n FROM natter_timeline.messages`);
    expect(count!.n).toBe(total);
    expect(await verifyPg({ nc: s.nc, db }, timelineProjection)).toEqual([]);
  }, 120_000);
});

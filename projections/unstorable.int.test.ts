import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createTokenVerifier } from "../auth/index.ts";
import { startReadApi, type ReadApi } from "../read-api/index.ts";
import { CheckpointWatch } from "../read-api/checkpoints.ts";
import { encodeEvent, childTrace, roomSubject } from "../streams/index.ts";
import { mustSend } from "../test/commandClient.ts";
import { replayCli, type ReplayCli } from "../test/replayCli.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { auditProjection } from "./audit/projection.ts";
import { listParked } from "./pgStore.ts";

/**
 * Events already in a log that the stores cannot carry (written before natter refused such input,
 * or by another producer): the command path refuses them now (read-api/hardening.int.test.ts);
 * here the projections meet them anyway and must say so rather than stop.
 */
describe("an event a projection cannot store", () => {
  let s: SystemHarness;
  let api: ReadApi;
  let cli: ReplayCli;
  beforeAll(async () => {
    s = await startSystem();
    if (s.database.url === undefined)
      throw new Error("the replay CLI runs as a child process here: this test needs a real PostgreSQL");
    cli = await replayCli(s.server.url, s.database.url);
    api = await startReadApi(s.nc, s.database.db, s.store, {
      log: pino({ level: "silent" }),
      registry: new Registry(),
      verifier: createTokenVerifier({ issuer: "http://127.0.0.1:9/realms/none", audience: "natter" }),
      queryRateLimit: "off",
      httpRateLimit: "off",
    });
  });
  afterAll(async () => {
    await cli?.close();
    await api?.drain();
    await s?.stop();
  });

  test("a NUL in a copied header and a lone surrogate in a payload are parked with a storable error, listed by failures and list, and /healthz is degraded", async () => {
    const room = (await mustSend(s.nc, "alice", "room.create", { name: "r", kind: "public" })).result[
      "roomId"
    ] as string;
    await s.caughtUp();
    expect((await api.health()).status).toBe("ok");

    const at = await s.store.lastSeqOf(roomSubject(room));
    const nul = encodeEvent(
      { type: "RoomTopicChanged", data: { roomId: room, topic: "fine", previousTopic: "" } } as never,
      {
        actor: "alice",
        commandId: "01JA0000000000000000000001",
        correlationId: "a\u0000b",
        causationId: "01JA0000000000000000000001",
        trace: childTrace(),
      },
    );
    const first = await s.store.append(nul, at);
    const surrogate = encodeEvent(
      { type: "RoomTopicChanged", data: { roomId: room, topic: "half \udfff a pair", previousTopic: "fine" } } as never,
      {
        actor: "alice",
        commandId: "01JA0000000000000000000002",
        correlationId: "c",
        causationId: "01JA0000000000000000000002",
        trace: childTrace(),
      },
    );
    const second = await s.store.append(surrogate, first.seq);
    const other = await mustSend(s.nc, "bob", "room.create", { name: "other", kind: "public" });
    await s.caughtUp(other.seq);

    const parked = await listParked(s.database.db, auditProjection.liveSchema);
    expect(parked.map((p) => [p.seq, p.status])).toEqual([
      [first.seq, "failed"],
      [second.seq, "held"],
    ]);
    expect(parked[0]!.error).toMatch(/0x00|UTF8/);
    expect(parked[0]!.error).not.toContain("\u0000");

    const failures = await cli.json(["failures"]);
    expect(failures.code, failures.stderr).toBe(0);
    expect(failures.rows.filter((r) => r["projection"] === "audit").map((r) => r["seq"])).toEqual([
      first.seq,
      second.seq,
    ]);
    const list = await cli.json(["list"]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.rows.find((r) => r["projection"] === "audit")).toMatchObject({ parked: 2, state: "parked" });
    expect(list.rows.find((r) => r["projection"] === "timeline")).toMatchObject({ parked: 0, state: "ok" });

    const health = await api.health();
    expect(health.status).toBe("degraded");
    expect(health.projections["audit"]).toMatchObject({ parked: 2, state: "parked" });
    expect(health.projections["timeline"]).toMatchObject({ state: "ok" });

    // Skipping the first lets the second through: its lone surrogate cannot be stored either, so it parks on its own.
    const skipped = await cli.json(["failures", "audit", "--skip", "--seq", String(first.seq)]);
    expect(skipped.rows.map((r) => [r["seq"], r["outcome"]])).toEqual([
      [first.seq, "skipped"],
      [second.seq, "failed"],
    ]);
    expect(skipped.code).toBe(1);
    const after = await listParked(s.database.db, auditProjection.liveSchema);
    expect(after.map((p) => [p.seq, p.status])).toEqual([[second.seq, "failed"]]);
    expect(after[0]!.error.isWellFormed()).toBe(true);
  });

  test("a projection behind the log that does not move for the stall time is stalled (no projector running, or one that keeps failing)", async () => {
    const watch = new CheckpointWatch(s.nc, s.database.db, s.store);
    try {
      await s.caughtUp();
      const t0 = Date.now();
      // Idle and caught up, with the log's last event one the timeline does not read: never stalled.
      const quiet = (await mustSend(s.nc, "alice", "room.create", { name: "quiet", kind: "public" })).seq;
      await s.caughtUp(quiet);
      expect((await watch.lag(["timeline"], 30_000, t0))["timeline"]!).toMatchObject({ state: "ok", behind: 0 });
      expect((await watch.lag(["timeline"], 30_000, t0 + 31_000))["timeline"]!).toMatchObject({
        state: "ok",
        behind: 0,
      });
      await s.projections.stop();
      const room = (await mustSend(s.nc, "alice", "room.create", { name: "unseen", kind: "public" })).result[
        "roomId"
      ] as string;
      await mustSend(s.nc, "alice", "msg.post", { roomId: room, body: "nobody projects this" });
      const first = (await watch.lag(["timeline"], 30_000, t0 + 40_000))["timeline"]!;
      expect(first).toMatchObject({ state: "ok" });
      expect(first.behind).toBeGreaterThan(0);
      expect((await watch.lag(["timeline"], 30_000, t0 + 60_000))["timeline"]!.state).toBe("ok");
      expect((await watch.lag(["timeline"], 30_000, t0 + 71_000))["timeline"]!).toMatchObject({
        state: "stalled",
        checkpoint: first.checkpoint,
      });
    } finally {
      watch.stop();
    }
  });
});

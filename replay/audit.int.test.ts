import { headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { EventEnvelope } from "../streams/index.ts";
import { H } from "../streams/index.ts";
import { auditFromLog, auditFromReadModel, type AuditFilter } from "../projections/index.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { inBatches, replayCli, type ReplayCli } from "../test/replayCli.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";

type Row = {
  seq: number;
  time: string;
  type: string;
  actor: string;
  subject: string;
  roomId: string | null;
  correlationId: string;
};

let s: SystemHarness;
let cli: ReplayCli;
let log: EventEnvelope[];
let general: string;
let secret: string;
let firstPost: string;

/** Sends a command whose events carry `correlation` as their correlation id. */
function correlated(correlation: string) {
  const h = headers();
  h.set(H.correlation, correlation);
  return { headers: h };
}

beforeAll(async () => {
  s = await startSystem();
  cli = await replayCli(s.server.url, s.database.url);
  general = (await mustSend(s.nc, "alice", "room.create", { name: "general", kind: "public" })).result[
    "roomId"
  ] as string;
  secret = (await mustSend(s.nc, "bob", "room.create", { name: "secret", kind: "private", members: ["carol"] })).result[
    "roomId"
  ] as string;
  await mustSend(s.nc, "bob", "room.join", { roomId: general });
  await mustSend(s.nc, "carol", "room.join", { roomId: general });
  firstPost = (await mustSend(s.nc, "alice", "msg.post", { roomId: general, body: "first" })).result[
    "messageId"
  ] as string;
  for (const [author, roomId] of [
    ["bob", general],
    ["carol", secret],
    ["alice", general],
    ["bob", secret],
    ["carol", general],
    ["carol", secret],
  ] as const) {
    await mustSend(s.nc, author, "msg.post", { roomId, body: `from ${author}` });
  }
  await mustSend(s.nc, "alice", "msg.edit", { roomId: general, messageId: firstPost, body: "first, edited" });
  await mustSend(s.nc, "bob", "msg.react", { roomId: general, messageId: firstPost, emoji: "👍" });
  await mustSend(s.nc, "alice", "msg.edit", { roomId: general, messageId: firstPost, body: "first, edited twice" });
  // One user action that set off several commands, all carrying its correlation id.
  for (const [user, action, body] of [
    ["alice", "room.rename", { roomId: general, name: "general chat" }],
    ["alice", "room.topic", { roomId: general, topic: "anything goes" }],
    ["bob", "msg.post", { roomId: general, body: "renamed!" }],
  ] as const) {
    const r = await sendCommand(s.nc, user, action, body, correlated("corr-rename-1"));
    if (!r.ok) throw new Error(`${action}: ${r.error.message}`);
  }
  await mustSend(s.nc, "carol", "user.profile", { displayName: "Carol", language: "de" });
  await mustSend(s.nc, "bob", "msg.delete", { roomId: general, messageId: firstPost }, { admin: true });
  await mustSend(s.nc, "carol", "msg.post", { roomId: secret, body: "late" });
  const last = (await mustSend(s.nc, "alice", "msg.post", { roomId: general, body: "last" })).result[
    "messageId"
  ] as string;
  await mustSend(s.nc, "bob", "msg.react", { roomId: general, messageId: last, emoji: "🎉" });
  await s.caughtUp(await s.lastSeq());
  log = await s.store.readSubject("ev.>");
});
afterAll(async () => {
  await cli?.close();
  await s?.stop();
});

/** The test's own reading of each criterion, over the raw log. */
type Criteria = {
  actor?: string;
  room?: string;
  type?: string;
  aggregate?: string;
  correlation?: string;
  since?: string;
  until?: string;
};
function expected(c: Criteria): number[] {
  return log
    .filter((e) => {
      const [, kind, id] = e.subject.split(".");
      const room = kind === "room" || kind === "msg" ? id : undefined;
      const t = Date.parse(e.time);
      return (
        (c.actor === undefined || e.actor === c.actor) &&
        (c.room === undefined || room === c.room) &&
        (c.type === undefined || e.type === c.type) &&
        (c.aggregate === undefined ||
          e.subject === (c.aggregate.startsWith("ev.") ? c.aggregate : `ev.${c.aggregate}`)) &&
        (c.correlation === undefined || e.correlationId === c.correlation) &&
        (c.since === undefined || t >= Date.parse(c.since)) &&
        (c.until === undefined || t <= Date.parse(c.until))
      );
    })
    .map((e) => e.seq);
}
const argsOf = (c: Criteria) => Object.entries(c).flatMap(([k, v]) => [`--${k}`, v as string]);

describe("audit answers what a filter over the raw stream answers", () => {
  test("for each criterion and some combinations, from the read model and --from-log", async () => {
    expect(log.length).toBeGreaterThan(15);
    const times = log.map((e) => e.time);
    /** A millisecond before the post with `body`: the window ends before it. */
    const justBefore = (body: string) => {
      const e = log.find((x) => x.type === "MessagePosted" && (x.event.data as { body: string }).body === body)!;
      return new Date(Date.parse(e.time) - 1).toISOString();
    };
    // Every option appears, some two or three to a run; each one narrows its run's answer.
    const cases: Criteria[] = [
      { actor: "bob", type: "MessagePosted" },
      { room: secret, since: times[4]!, until: justBefore("late") },
      { aggregate: `ev.msg.${general}.${firstPost}` },
      { correlation: "corr-rename-1" },
    ];
    for (const c of cases) {
      for (const k of Object.keys(c) as (keyof Criteria)[]) {
        const { [k]: _, ...without } = c;
        expect(expected(without), `${k} narrows ${JSON.stringify(c)}`).not.toEqual(expected(c));
      }
    }
    const runs = await inBatches(
      cases.flatMap((c) => [
        async () => ({ c, source: "read model", r: await cli.json<Row>(["audit", ...argsOf(c)]) }),
        async () => ({ c, source: "log", r: await cli.json<Row>(["audit", ...argsOf(c), "--from-log"]) }),
      ]),
      2,
    );
    for (const { c, source, r } of runs) {
      const want = expected(c);
      expect(want.length, `${JSON.stringify(c)} selects something`).toBeGreaterThan(0);
      expect(want.length, `${JSON.stringify(c)} leaves something out`).toBeLessThan(log.length);
      expect(r.code, `${source} ${JSON.stringify(c)}: ${r.stderr}`).toBe(0);
      expect(
        r.rows.map((x) => x.seq),
        `${source} ${JSON.stringify(c)}`,
      ).toEqual(want);
      // Each row is the event it names.
      for (const row of r.rows) {
        const e = log.find((x) => x.seq === row.seq)!;
        expect({
          type: row.type,
          actor: row.actor,
          subject: row.subject,
          correlationId: row.correlationId,
          time: row.time,
        }).toEqual({
          type: e.type,
          actor: e.actor,
          subject: e.subject,
          correlationId: e.correlationId,
          time: e.time,
        });
      }
    }
    // The correlated action is the three commands sent under it.
    expect(expected({ correlation: "corr-rename-1" }).map((q) => log.find((e) => e.seq === q)!.type)).toEqual([
      "RoomRenamed",
      "RoomTopicChanged",
      "MessagePosted",
    ]);
  }, 120_000);

  test("in-process, auditFromReadModel and auditFromLog agree with the raw stream on more criteria", async () => {
    const times = log.map((e) => e.time);
    const cases: Criteria[] = [
      { room: general },
      { aggregate: `room.${secret}` },
      { aggregate: `ev.user.carol` },
      { since: times[log.length - 3]! },
      { until: times[3]! },
      { actor: "carol", since: times[8]! },
      { type: "MessagePosted", room: secret, until: times[log.length - 4]! },
    ];
    for (const c of cases) {
      const f: AuditFilter = {
        ...c,
        since: c.since === undefined ? undefined : new Date(c.since),
        until: c.until === undefined ? undefined : new Date(c.until),
      };
      for (const k of Object.keys(f) as (keyof AuditFilter)[]) if (f[k] === undefined) delete f[k];
      const want = expected(c);
      expect(want.length, JSON.stringify(c)).toBeGreaterThan(0);
      expect(want.length, JSON.stringify(c)).toBeLessThan(log.length);
      expect(
        (await auditFromReadModel(s.database.db, f)).map((r) => r.seq),
        `read model ${JSON.stringify(c)}`,
      ).toEqual(want);
      expect(
        (await auditFromLog(s.nc, f)).map((r) => r.seq),
        `log ${JSON.stringify(c)}`,
      ).toEqual(want);
    }
  });

  test("--format csv starts with a header line, then one line per event", async () => {
    const r = await cli.run(["audit", "--room", secret, "--format", "csv"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines[0]).toBe("seq,time,type,actor,subject,roomId,commandId,correlationId,causationId,payload");
    expect(r.lines.slice(1).map((l) => Number(l.split(",")[0]))).toEqual(expected({ room: secret }));
  });
});

describe("bad input exits 2 with a one-line reason", () => {
  test.concurrent.for([
    [["audit", "--since", "notadate"], /notadate/],
    [["audit", "--frobnicate"], /unknown option '--frobnicate'/],
    [["rebuild", "nosuch"], /unknown projection "nosuch"/],
  ] as [string[], RegExp][])("%j", async ([args, reason], { expect }) => {
    const r = await cli.run(args);
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.split("\n").filter((l) => l.trim().length > 0);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toMatch(reason);
    expect(r.stdout).toBe("");
  });
});

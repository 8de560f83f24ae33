import { RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, expect, test } from "vitest";
import { connectNats, EventStore } from "../streams/index.ts";
import { logLine, spawnCommandService, type CommandServiceChild } from "../test/childProcess.ts";
import { mustSend } from "../test/commandClient.ts";
import { startTestNats } from "../test/nats.ts";
import type { CommandReply } from "./handler.ts";

let server: Awaited<ReturnType<typeof startTestNats>>;
let nc: NatsConnection;
let service: CommandServiceChild | undefined;

beforeAll(async () => {
  server = await startTestNats();
  nc = await connectNats(server.url);
});
afterAll(async () => {
  await service?.stop("SIGKILL");
  await nc?.close();
  await server?.stop();
});

/**
 * When a request was sent: 1 before SIGTERM (the server had routed it to the service already),
 * 2 after SIGTERM until the service logged "stopping", 3 after that, while it drains.
 */
type Wave = 1 | 2 | 3;

/** How one request ended, as its sender saw it. */
type Outcome = { commandId: string; wave: Wave } & (
  | { kind: "reply"; reply: CommandReply }
  | { kind: "noResponders" }
  | { kind: "timeout" }
  | { kind: "error"; error: string }
  | { kind: "badReply"; text: string }
);

/** Sends one msg.post and classifies how it ended, never throwing. */
async function post(user: string, roomId: string, wave: Wave): Promise<Outcome> {
  const commandId = ulid();
  const payload = JSON.stringify({ commandId, roomId, body: `${user} in wave ${wave}` });
  let text: string;
  try {
    // Long enough that only a reply that never comes ends in a timeout.
    const msg = await nc.request(`cmd.${user}.msg.post`, payload, { timeout: 15_000 });
    text = msg.string();
  } catch (err) {
    if (err instanceof TimeoutError) return { commandId, wave, kind: "timeout" };
    if (err instanceof RequestError && err.isNoResponders()) return { commandId, wave, kind: "noResponders" };
    return { commandId, wave, kind: "error", error: String(err) };
  }
  try {
    const reply = JSON.parse(text) as CommandReply;
    if (typeof reply !== "object" || reply === null || typeof reply.ok !== "boolean") throw new Error("not a reply");
    return { commandId, wave, kind: "reply", reply };
  } catch {
    return { commandId, wave, kind: "badReply", text };
  }
}

test("SIGTERM with hundreds of commands in flight: every command taken is answered, the rest find no responders, exit 0", async () => {
  service = spawnCommandService(server.url);
  const svc = service;
  await svc.ready;
  const users = Array.from({ length: 10 }, (_, i) => `drainer${i}`);
  const roomId = (await mustSend(nc, "owner", "room.create", { name: "drain", kind: "public" })).result[
    "roomId"
  ] as string;
  await Promise.all(users.map((u) => mustSend(nc, u, "room.join", { roomId })));

  // Wave 1: 300 requests, all routed to the service before it hears of SIGTERM (the flush makes
  // sure the server has them), so it must answer every one.
  const outcomes: Promise<Outcome>[] = [];
  let sent = 0;
  const send = (wave: Wave) => outcomes.push(post(users[sent++ % users.length]!, roomId, wave));
  for (let i = 0; i < 300; i++) send(1);
  await nc.flush();
  let stopping = false;
  const stoppingLogged = svc
    .waitForLine((l) => logLine(l)?.["msg"] === "stopping", 30_000)
    .then(
      () => (stopping = true),
      () => (stopping = true),
    );
  svc.process.kill("SIGTERM");

  // Waves 2 and 3: keep sending, 5 at a time, until it exits; each request lands before or after
  // it unsubscribed. Each round awaits a round trip to the server, so this follows the server's
  // pace, not a clock. At most 1,000 a wave keeps it under its in-flight limit.
  const perWave = { 2: 0, 3: 0 };
  while (svc.running()) {
    const wave: Wave = stopping ? 3 : 2;
    if (perWave[wave] >= 1000) {
      if (wave === 3) break;
      await stoppingLogged;
      continue;
    }
    for (let i = 0; i < 5; i++, perWave[wave]++) send(wave);
    await nc.flush();
  }
  const exit = await svc.exited;
  const all = await Promise.all(outcomes);

  expect(exit, svc.stderr()).toEqual({ code: 0, signal: null });
  const count = (kind: Outcome["kind"], wave?: Wave) =>
    all.filter((o) => o.kind === kind && (wave === undefined || o.wave === wave)).length;
  const summary = {
    replies: count("reply"),
    noResponders: count("noResponders"),
    timeouts: count("timeout"),
    errors: all.filter((o) => o.kind === "error" || o.kind === "badReply"),
  };
  // Nothing lost mid-way: a request was either answered or never taken.
  expect(summary.timeouts, JSON.stringify(summary)).toBe(0);
  expect(summary.errors).toEqual([]);
  expect(count("reply", 1)).toBe(300);
  expect(summary.replies + summary.noResponders).toBe(all.length);

  const replies = all.filter((o): o is Outcome & { kind: "reply" } => o.kind === "reply");
  const ok = replies.filter((o) => o.reply.ok);
  // Wave 1 is well under the service's in-flight limit: every one of it is posted. Later ones may
  // find the service full and be refused, but only with a typed error the client may retry on.
  expect(replies.filter((o) => o.wave === 1 && !o.reply.ok).map((o) => o.reply)).toEqual([]);
  expect(replies.filter((o) => !o.reply.ok && o.reply.error.code !== "unavailable").map((o) => o.reply)).toEqual([]);

  // The log has exactly one event per ok reply, at the replied sequence, and none for the rest.
  const events = (await new EventStore(nc).readSubject(`ev.msg.${roomId}.>`)).filter((e) => e.type === "MessagePosted");
  const byCommand = new Map(events.map((e) => [e.commandId, e]));
  expect(byCommand.size).toBe(events.length);
  for (const o of ok) {
    const e = byCommand.get(o.commandId);
    expect(e, `event of ${o.commandId}`).toBeDefined();
    expect(o.reply.ok && o.reply.seq).toBe(e!.seq);
  }
  for (const o of all.filter((x) => x.kind !== "reply" || !x.reply.ok))
    expect(byCommand.has(o.commandId), `event of ${o.commandId}`).toBe(false);
  expect(events.length).toBe(ok.length);

  // The service logged each command it answered, then its drain.
  const logged = svc.lines
    .map(logLine)
    .filter(
      (l) => (l?.["msg"] === "command" || l?.["msg"] === "command refused: overloaded") && l["action"] === "msg.post",
    );
  expect(logged.length).toBe(replies.length);
  expect(svc.lines.some((l) => logLine(l)?.["msg"] === "command service drained")).toBe(true);
  const waves = ([1, 2, 3] as const).map(
    (w) => `wave ${w}: ${count("reply", w)} answered, ${count("noResponders", w)} no responders`,
  );
  console.log(`drain: ${waves.join("; ")}; ${replies.length - ok.length} refused as overloaded`);
});

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

/** How one request ended, as its sender saw it. */
type Outcome =
  | { commandId: string; wave: 1 | 2; kind: "reply"; reply: CommandReply }
  | { commandId: string; wave: 1 | 2; kind: "noResponders" }
  | { commandId: string; wave: 1 | 2; kind: "timeout" }
  | { commandId: string; wave: 1 | 2; kind: "error"; error: string }
  | { commandId: string; wave: 1 | 2; kind: "badReply"; text: string };

/** Sends one msg.post and classifies how it ended, never throwing. */
async function post(user: string, roomId: string, wave: 1 | 2): Promise<Outcome> {
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
  await service.ready;
  const users = Array.from({ length: 10 }, (_, i) => `drainer${i}`);
  const roomId = (await mustSend(nc, "owner", "room.create", { name: "drain", kind: "public" })).result["roomId"] as string;
  await Promise.all(users.map((u) => mustSend(nc, u, "room.join", { roomId })));

  // Wave 1: 300 requests, all routed to the service before it hears of SIGTERM (the flush makes
  // sure the server has them), so it must answer every one.
  const outcomes: Promise<Outcome>[] = [];
  for (let i = 0; i < 300; i++) outcomes.push(post(users[i % users.length]!, roomId, 1));
  await nc.flush();
  const svc = service;
  svc.process.kill("SIGTERM");

  // Wave 2: keep sending while it drains; each request lands before or after it unsubscribed.
  // Each round trip is awaited, so this follows the server's pace rather than a clock.
  let wave2 = 0;
  while (svc.running() && wave2 < 2000) {
    for (let i = 0; i < 5; i++, wave2++) outcomes.push(post(users[wave2 % users.length]!, roomId, 2));
    await nc.flush();
  }
  const exit = await svc.exited;
  const all = await Promise.all(outcomes);

  expect(exit, svc.stderr()).toEqual({ code: 0, signal: null });
  const count = (kind: Outcome["kind"], wave?: 1 | 2) => all.filter((o) => o.kind === kind && (wave === undefined || o.wave === wave)).length;
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

  const replies = all.filter((o): o is Extract<Outcome, { kind: "reply" }> => o.kind === "reply");
  const refused = replies.filter((o) => !o.reply.ok);
  expect(refused.map((o) => o.reply)).toEqual([]);

  // The log has exactly one event per ok reply, at the replied sequence, and none for the rest.
  const events = (await new EventStore(nc).readSubject(`ev.msg.${roomId}.>`)).filter((e) => e.type === "MessagePosted");
  const byCommand = new Map(events.map((e) => [e.commandId, e]));
  expect(byCommand.size).toBe(events.length);
  for (const o of replies) {
    const e = byCommand.get(o.commandId);
    expect(e, `event of ${o.commandId}`).toBeDefined();
    expect(o.reply.ok && o.reply.seq).toBe(e!.seq);
  }
  for (const o of all.filter((x) => x.kind === "noResponders")) expect(byCommand.has(o.commandId), `event of ${o.commandId}`).toBe(false);
  expect(events.length).toBe(replies.length);

  // The service logged each command it answered, then its drain.
  const logged = svc.lines.map(logLine).filter((l) => l?.["msg"] === "command" && l["action"] === "msg.post");
  expect(logged.length).toBe(replies.length);
  expect(svc.lines.some((l) => logLine(l)?.["msg"] === "command service drained")).toBe(true);
  console.log(`drain: ${summary.replies} answered (${count("reply", 2)} of them sent after SIGTERM), ${summary.noResponders} found no responders`);
});

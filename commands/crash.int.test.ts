import { EventEmitter, once } from "node:events";
import { RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, expect, test } from "vitest";
import { connectNats, EventStore, type EventEnvelope } from "../streams/index.ts";
import { logLine, spawnCommandService, type CommandServiceChild } from "../test/childProcess.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { startTestNats } from "../test/nats.ts";
import type { CommandReply } from "./handler.ts";

/** Command-service processes running side by side in the queue group. */
const SERVICES = 2;
/** Client loops, each sending one command at a time as its own user. */
const CLIENTS = 8;
/** SIGKILLs, each followed by a restart. */
const KILLS = 7;
/** How long a client waits for a reply before sending the same command again. */
const REQUEST_TIMEOUT_MS = 2000;
/** How long one command may go unanswered, across all its retries, before the test fails. */
const COMMAND_DEADLINE_MS = 25_000;

let server: Awaited<ReturnType<typeof startTestNats>>;
let nc: NatsConnection;
const children: CommandServiceChild[] = [];

beforeAll(async () => {
  server = await startTestNats();
  nc = await connectNats(server.url);
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  await nc?.close();
  await server?.stop();
});

/**
 * The command-service processes: each slot runs one process at a time; `kill` SIGKILLs it and
 * `start` brings up a new one. An exit the test did not cause is recorded as a failure.
 */
class Fleet {
  private readonly events = new EventEmitter();
  private readonly current: (CommandServiceChild | undefined)[] = Array.from({ length: SERVICES }, () => undefined);
  private readonly up = new Set<CommandServiceChild>();
  private readonly killed = new Set<CommandServiceChild>();
  readonly unexpectedExits: string[] = [];

  constructor(private readonly url: string) {}

  start(slot: number): CommandServiceChild {
    const child = spawnCommandService(this.url);
    children.push(child);
    this.current[slot] = child;
    void child.ready.then(() => {
      if (!this.killed.has(child)) {
        this.up.add(child);
        this.events.emit("up");
      }
    });
    void child.exited.then((exit) => {
      this.up.delete(child);
      if (!this.killed.has(child))
        this.unexpectedExits.push(
          `service in slot ${slot} exited by itself: ${JSON.stringify(exit)}\n${child.stderr()}`,
        );
    });
    return child;
  }

  child(slot: number): CommandServiceChild {
    const c = this.current[slot];
    if (c === undefined) throw new Error(`slot ${slot} was never started`);
    return c;
  }

  /** SIGKILLs the slot's process and resolves once it is gone. */
  async kill(slot: number): Promise<void> {
    const child = this.child(slot);
    this.killed.add(child);
    this.up.delete(child);
    await child.stop("SIGKILL");
  }

  /** Resolves at once when some service is serving, else when the next one is ready. */
  async someUp(): Promise<void> {
    if (this.up.size > 0) return;
    await once(this.events, "up", { signal: AbortSignal.timeout(COMMAND_DEADLINE_MS) });
  }
}

type Sent = { user: string; action: string; commandId: string; attempts: number; reply: CommandReply };
const stats = { timeouts: 0, noResponders: 0, unavailable: 0 };

/**
 * Sends one command, and the same command (same commandId) again after a timeout, no responders
 * or `unavailable`, until it is answered ok or with a domain error.
 */
async function sendUntilAnswered(
  fleet: Fleet,
  user: string,
  action: string,
  body: Record<string, unknown>,
): Promise<Sent> {
  const commandId = ulid();
  const deadline = Date.now() + COMMAND_DEADLINE_MS;
  for (let attempts = 1; ; attempts++) {
    if (Date.now() > deadline)
      throw new Error(`${action} ${commandId} by ${user} unanswered after ${attempts - 1} attempts`);
    try {
      const reply = await sendCommand(nc, user, action, body, { commandId, timeout: REQUEST_TIMEOUT_MS });
      if (reply.ok || reply.error.code !== "unavailable") return { user, action, commandId, attempts, reply };
      stats.unavailable++;
    } catch (err) {
      if (err instanceof TimeoutError) {
        stats.timeouts++;
      } else if (err instanceof RequestError && err.isNoResponders()) {
        stats.noResponders++;
        await fleet.someUp();
      } else {
        throw err;
      }
    }
  }
}

/** The event type a command appends, for the commands the clients send. */
const EVENT_OF: Record<string, string> = {
  "room.create": "RoomCreated",
  "room.join": "MemberJoined",
  "room.leave": "MemberLeft",
  "msg.post": "MessagePosted",
  "msg.react": "ReactionAdded",
};

test("services SIGKILLed at random moments while clients retry: every answered command is in the log exactly once", async () => {
  const fleet = new Fleet(server.url);
  // The first one creates the stream and buckets; the others find them.
  await fleet.start(0).ready;
  await Promise.all(Array.from({ length: SERVICES - 1 }, (_, i) => fleet.start(i + 1).ready));

  const sent: Sent[] = [];
  const users = Array.from({ length: CLIENTS }, (_, i) => `crasher${i}`);
  const createId = ulid();
  const created = await mustSend(
    nc,
    "owner",
    "room.create",
    { name: "crash", kind: "public" },
    { commandId: createId },
  );
  const roomId = created.result["roomId"] as string;
  sent.push({
    user: "owner",
    action: "room.create",
    commandId: createId,
    attempts: 1,
    reply: { ok: true, ...created },
  });
  for (const user of users) {
    const commandId = ulid();
    const joined = await mustSend(nc, user, "room.join", { roomId }, { commandId });
    sent.push({ user, action: "room.join", commandId, attempts: 1, reply: { ok: true, ...joined } });
  }

  let stopping = false;
  /**
   * One user's loop. It keeps its own model of what it may do, so every command it sends changes
   * something: it joins only when out, leaves and posts only when in, reacts to its own messages
   * with a new emoji each time. So every ok answer must be backed by exactly one event.
   */
  const client = async (user: string) => {
    let member = true;
    const own: string[] = [];
    for (let n = 0; !stopping; n++) {
      const r = Math.random();
      let action: string;
      let body: Record<string, unknown>;
      if (!member) [action, body] = ["room.join", { roomId }];
      else if (r < 0.08) [action, body] = ["room.leave", { roomId }];
      else if (r < 0.25 && own.length > 0)
        [action, body] = ["msg.react", { roomId, messageId: own[n % own.length], emoji: `:${user}-${n}:` }];
      else [action, body] = ["msg.post", { roomId, body: `${user} #${n}` }];
      const s = await sendUntilAnswered(fleet, user, action, body);
      sent.push(s);
      if (!s.reply.ok) continue;
      if (action === "room.join") member = true;
      if (action === "room.leave") member = false;
      if (action === "msg.post") own.push(s.reply.result["messageId"] as string);
    }
  };

  /** Kills the slots in turn, each a random 200 to 1500 ms after its process is ready, and restarts it. */
  const killer = async () => {
    for (let k = 0; k < KILLS; k++) {
      const slot = k % SERVICES;
      await fleet.child(slot).ready;
      // The random moment of the crash: this delay is the chaos schedule, not a wait for something.
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 1300));
      await fleet.kill(slot);
      fleet.start(slot);
    }
    for (let slot = 0; slot < SERVICES; slot++) await fleet.child(slot).ready;
  };

  const clients = users.map(client);
  try {
    await killer();
  } finally {
    stopping = true;
    await Promise.allSettled(clients);
  }
  await Promise.all(clients);
  expect(fleet.unexpectedExits).toEqual([]);

  const events = await new EventStore(nc).readSubject("ev.>");
  const byCommand = new Map<string, EventEnvelope[]>();
  for (const e of events) byCommand.set(e.commandId, [...(byCommand.get(e.commandId) ?? []), e]);

  // No command is in the log twice.
  const twice = [...byCommand]
    .filter(([, es]) => es.length > 1)
    .map(([id, es]) => `${id}: ${es.map((e) => `${e.type}@${e.seq}`).join(", ")}`);
  expect(twice).toEqual([]);

  // Every command answered ok is in the log exactly once, at the answered sequence; a command
  // answered with an error is not in it at all.
  const problems: string[] = [];
  for (const s of sent) {
    const es = byCommand.get(s.commandId) ?? [];
    if (!s.reply.ok) {
      if (es.length > 0)
        problems.push(`${s.action} ${s.commandId} answered ${s.reply.error.code} but is in the log at ${es[0]!.seq}`);
      continue;
    }
    const e = es[0];
    if (e === undefined) {
      problems.push(
        `${s.action} ${s.commandId} by ${s.user} answered ok (seq ${s.reply.seq}, ${s.attempts} attempts) but is not in the log`,
      );
      continue;
    }
    if (e.seq !== s.reply.seq)
      problems.push(`${s.action} ${s.commandId} answered seq ${s.reply.seq} but its event is at ${e.seq}`);
    if (e.actor !== s.user || e.type !== EVENT_OF[s.action])
      problems.push(`${s.action} ${s.commandId} by ${s.user} is in the log as ${e.type} by ${e.actor}`);
    if (s.action === "msg.post" && s.reply.result["messageId"] !== s.commandId)
      problems.push(`msg.post ${s.commandId} answered messageId ${String(s.reply.result["messageId"])}`);
  }
  expect(problems).toEqual([]);

  // And nothing is in the log that no one was answered for.
  const answered = new Set(sent.filter((s) => s.reply.ok).map((s) => s.commandId));
  expect(events.filter((e) => !answered.has(e.commandId)).map((e) => `${e.type}@${e.seq} ${e.commandId}`)).toEqual([]);

  const refused = sent.filter((s) => !s.reply.ok).map((s) => (s.reply.ok ? "" : s.reply.error.code));
  const retried = sent.filter((s) => s.attempts > 1).length;
  const replayed = children.flatMap((c) => c.lines.map(logLine)).filter((l) => l?.["outcome"] === "replayed").length;
  console.log(
    `crash: ${sent.length} commands, ${events.length} events, ${KILLS} kills; ${retried} retried ` +
      `(timeouts ${stats.timeouts}, no responders ${stats.noResponders}, unavailable ${stats.unavailable}); ` +
      `${replayed} answered from the log as already applied; refused: ${JSON.stringify(refused)}`,
  );
  // The kills did hit commands under way (else this test proves nothing).
  expect(retried).toBeGreaterThan(0);
  // Every command was valid by its client's model, so the only refusal possible is giving up on
  // an aggregate the other instance kept changing; anything else is a wrong answer to a retry.
  expect(refused.filter((code) => code !== "conflict")).toEqual([]);

  await Promise.all(children.map((c) => c.stop("SIGTERM")));
});

/**
 * Seeding for the `read` suite: a public room with many messages through real commands (sent as
 * its members on the gateway's connection, the command service's rate limit off), with some
 * reactions, edits and thread replies so that timeline pages carry what real ones do.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { CommandReply } from "../commands/index.ts";
import { sendCommand } from "../test/commandClient.ts";
import { fastUlid, Phase, windowed } from "./lib.ts";
import type { BenchUser } from "./readSystem.ts";

const WORDS =
  "the deploy went out fine but the search endpoint is slow again could someone look at the flaky test before lunch thanks".split(
    " ",
  );
const EMOJIS = ["👍", "🎉", ":eyes:", "❤️", ":rocket:"];

/** A chat message body of 3 to 22 words, varying with `i`. */
export function bodyOf(i: number): string {
  const n = 3 + ((i * 7) % 20);
  return Array.from({ length: n }, (_, w) => WORDS[(i + w * 3) % WORDS.length]).join(" ");
}

/** Sends one command as `user` with a fast command id; throws unless it succeeds. */
export async function command(
  nc: NatsConnection,
  userId: string,
  action: string,
  body: Record<string, unknown>,
): Promise<Extract<CommandReply, { ok: true }>> {
  const r = await sendCommand(nc, userId, action, body, { commandId: fastUlid(), timeout: 30_000 });
  if (!r.ok) throw new Error(`${action} by ${userId}: ${r.error.code}: ${r.error.message}`);
  return r;
}

/** What was seeded: the room and the sequences of its timeline posts (thread replies apart). */
export type SeededRoom = { roomId: string; postSeqs: number[]; reactions: number; edits: number; replies: number };

/**
 * Creates a public room owned by `members[0]`, joins the other members, posts `messages` messages
 * round-robin among them (`concurrency` commands in flight), then reacts to every tenth message (one
 * to three members each), edits every fiftieth (by its author) and answers every hundredth in its
 * thread (two replies). Progress goes to stderr.
 */
export async function seedPublicRoom(
  nc: NatsConnection,
  members: BenchUser[],
  messages: number,
  concurrency: number,
): Promise<SeededRoom> {
  const roomId = fastUlid();
  await command(nc, members[0]!.id, "room.create", {
    name: "bench timeline",
    kind: "public",
    roomId,
    topic: "read suite",
  });
  for (const m of members.slice(1)) await command(nc, m.id, "room.join", { roomId });

  const ids = Array.from({ length: messages }, () => fastUlid());
  const postSeqs: number[] = new Array(messages);
  const authorOf = (i: number) => members[i % members.length]!;
  const posting = new Phase(
    `seeding: msg.post into one public room (${members.length} members, ${concurrency} in flight)`,
    messages,
    2000,
    process.stderr,
  );
  await windowed(messages, concurrency, async (i) => {
    postSeqs[i] = (await command(nc, authorOf(i).id, "msg.post", { roomId, messageId: ids[i], body: bodyOf(i) })).seq;
    posting.done++;
  });
  posting.end();

  // Reactions, edits and replies, spread over the room's history.
  const extras: (() => Promise<unknown>)[] = [];
  let reactions = 0;
  let edits = 0;
  let replies = 0;
  for (let i = 0; i < messages; i++) {
    const messageId = ids[i]!;
    if (i % 10 === 3) {
      for (let r = 0; r <= i % 3; r++) {
        const who = members[(i + r + 1) % members.length]!;
        extras.push(() =>
          command(nc, who.id, "msg.react", { roomId, messageId, emoji: EMOJIS[(i + r) % EMOJIS.length] }),
        );
        reactions++;
      }
    }
    if (i % 50 === 7) {
      extras.push(() => command(nc, authorOf(i).id, "msg.edit", { roomId, messageId, body: `${bodyOf(i)} (edited)` }));
      edits++;
    }
    if (i % 100 === 11) {
      for (let r = 0; r < 2; r++) {
        const who = members[(i + r + 2) % members.length]!;
        extras.push(() =>
          command(nc, who.id, "msg.post", { roomId, threadRootId: messageId, body: `re: ${bodyOf(i + r)}` }),
        );
        replies++;
      }
    }
  }
  const extra = new Phase("seeding: reactions, edits and thread replies", extras.length, 2000, process.stderr);
  await windowed(extras.length, concurrency, async (i) => {
    await extras[i]!();
    extra.done++;
  });
  extra.end();
  return { roomId, postSeqs, reactions, edits, replies };
}

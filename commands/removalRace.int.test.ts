import type { NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { EventStore } from "../streams/index.ts";
import { startCommandFleet, type CommandFleet } from "../test/commandHarness.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { postProblems, postsByOutsiders, readRoomLog, type SentPost } from "../test/roomLog.ts";

/**
 * Issue 15: a post is decided on the room's membership, and a removal or ban that lands between
 * that decision and the post's append must not let the post in after it. Here a member posts from
 * two connections without pause while the room's owner removes (or bans) them, round after round,
 * through two command-service instances sharing the queue group; the log must never show a post of
 * theirs after the event that took them out, until they join again.
 */

/** Rounds of each kind: a removal (then a join) or a ban (then an unban and a join). */
const ROUNDS = 200;
const OWNER = "race-owner";
const MEMBER = "race-member";

let fleet: CommandFleet;
/** The owner's connection, and the member's two. */
let owner: NatsConnection;
let member: NatsConnection[];
let store: EventStore;

beforeAll(async () => {
  fleet = await startCommandFleet({ instances: 2, clients: 3 });
  [owner, member, store] = [fleet.clients[0]!, fleet.clients.slice(1), fleet.store];
});
afterAll(async () => {
  await fleet?.stop();
});

/** A post as sent: `early` when it was answered before the owner's removal or ban went out. */
type RacedPost = SentPost & { round: number; early: boolean };

/**
 * Runs the rounds in a new public room and resolves with the room and every post sent. In each
 * round both of the member's connections post in a loop, one post after another, until each is
 * refused; once each has had a post accepted in this round, the owner removes or bans them while
 * those loops run. Then the member is let back in (an unban first after a ban) for the next round.
 */
async function race(kind: "remove" | "ban"): Promise<{ roomId: string; posts: RacedPost[] }> {
  const roomId = (await mustSend(owner, OWNER, "room.create", { name: `race ${kind}`, kind: "public" })).result[
    "roomId"
  ] as string;
  await mustSend(member[0]!, MEMBER, "room.join", { roomId });
  const posts: RacedPost[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let outSent = false;
    const accepted = member.map(() => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    });
    const loops = member.map(async (nc, conn) => {
      for (let n = 0; ; n++) {
        const commandId = ulid();
        const reply = await sendCommand(
          nc,
          MEMBER,
          "msg.post",
          { roomId, body: `${kind} round ${round}, connection ${conn}, post ${n}` },
          { commandId },
        );
        posts.push({ user: MEMBER, commandId, reply, round, early: !outSent });
        // A refusal before the removal went out is wrong (the checks below say so), but it must
        // not hold the round up either.
        accepted[conn]!.resolve();
        if (!reply.ok) return;
      }
    });
    await Promise.all(accepted.map((a) => a.promise));
    outSent = true;
    await mustSend(owner, OWNER, kind === "remove" ? "room.remove" : "room.ban", { roomId, userId: MEMBER });
    await Promise.all(loops);
    if (kind === "ban") await mustSend(owner, OWNER, "room.unban", { roomId, userId: MEMBER });
    await mustSend(member[round % member.length]!, MEMBER, "room.join", { roomId });
  }
  return { roomId, posts };
}

/** What the log and the answers must show after a race, as a list of what is wrong. */
async function check(kind: "remove" | "ban", roomId: string, posts: RacedPost[]): Promise<string[]> {
  const log = await readRoomLog(store, roomId);
  const outsiders = postsByOutsiders(log);
  const answers = postProblems(log, posts, ["forbidden"]);
  const refusedEarly = posts
    .filter((p) => p.early && !p.reply.ok)
    .map(
      (p) =>
        `round ${p.round}: post ${p.commandId} refused (${p.reply.ok ? "" : p.reply.error.code}) before the ${kind} was sent`,
    );
  const outs = log.filter((e) => e.type === (kind === "remove" ? "MemberRemoved" : "MemberBanned")).length;
  console.log(
    `${kind} race: ${ROUNDS} rounds, ${outs} ${kind === "remove" ? "removals" : "bans"}, ${posts.length} posts ` +
      `(${posts.filter((p) => p.reply.ok).length} ok, ${posts.filter((p) => !p.reply.ok).length} refused); ` +
      `${outsiders.length} posts in the log after the member was out`,
  );
  expect(outs).toBe(ROUNDS);
  return [...outsiders, ...answers, ...refusedEarly];
}

test(`a member posting from two connections while removed, ${ROUNDS} times: no post of theirs in the log after their MemberRemoved`, async () => {
  const { roomId, posts } = await race("remove");
  expect(await check("remove", roomId, posts)).toEqual([]);
});

test(`a member posting from two connections while banned, ${ROUNDS} times: no post of theirs in the log after their MemberBanned`, async () => {
  const { roomId, posts } = await race("ban");
  expect(await check("ban", roomId, posts)).toEqual([]);
});

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliedSubject, type AppliedAnnouncement } from "../projections/index.ts";
import { startReadHarness, type ReadHarness } from "../test/readHarness.ts";
import { parseInput } from "./queries.ts";
import type { Message } from "./schemas.ts";
import { timelinePage } from "./timelineQueries.ts";

/**
 * The read API's timeline cache against the real projectors: its pages equal the database's, and
 * every change a projector commits (posts, edits, deletes, reactions, thread replies, membership)
 * shows in the next page — at once with `minSeq`, and within moments without it.
 */
let h: ReadHarness;
let roomId: string;
let privateRoom: string;
const posts: { messageId: string; seq: number }[] = [];

beforeAll(async () => {
  h = await startReadHarness();
  const { bob, dave } = h.users;
  roomId = (await bob.cmd("room.create", { name: "cached", kind: "public" })).result["roomId"] as string;
  await dave.cmd("room.join", { roomId });
  for (let i = 0; i < 120; i++) {
    const who = i % 3 === 0 ? dave : bob;
    const r = await who.cmd("msg.post", { roomId, body: `message ${i}` });
    posts.push({ messageId: r.result["messageId"] as string, seq: r.seq });
    if (i % 10 === 5) await bob.cmd("msg.post", { roomId, body: `reply to ${i}`, threadRootId: posts[i]!.messageId });
    if (i % 17 === 3) await dave.cmd("msg.react", { roomId, messageId: posts[i]!.messageId, emoji: "👍" });
    if (i % 29 === 7) await bob.cmd("msg.delete", { roomId, messageId: posts[i - 1]!.messageId });
  }
  privateRoom = (await bob.cmd("room.create", { name: "inner circle", kind: "private", members: [dave.id] })).result[
    "roomId"
  ] as string;
  await bob.cmd("msg.post", { roomId: privateRoom, body: "between us" });
  await h.caughtUp();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

const cache = () => h.api.timelineCache!;
const page = async (q: Record<string, unknown>, minSeq?: number) => {
  const r = await h.users.dave.q<{ messages: Message[]; hasBefore: boolean; hasAfter: boolean }>("messages", {
    roomId,
    ...q,
    ...(minSeq ? { minSeq } : {}),
  });
  expect(r.ok, JSON.stringify(r.error)).toBe(true);
  return r.result!;
};

describe("timeline cache", () => {
  it("gives every page exactly as the database does, before, after, around and latest", async () => {
    const caller = { userId: h.users.dave.id, admin: false };
    const before = cache().stats.hits;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ before: fc.integer({ min: 1, max: posts.at(-1)!.seq + 5 }) }),
          fc.record({ after: fc.integer({ min: 0, max: posts.at(-1)!.seq + 5 }) }),
          fc.record({ around: fc.constantFrom(...posts.map((p) => p.messageId)) }),
          fc.constant({}),
        ),
        fc.integer({ min: 1, max: 60 }),
        async (position, limit) => {
          const q = { roomId, ...position, limit };
          const cached = await h.api.execute("messages", caller, q);
          const direct = await timelinePage(h.database.db, caller, parseInput("messages", q));
          expect(cached.result).toEqual(direct);
        },
      ),
      { numRuns: 150 },
    );
    // Most of those came from memory: 120 messages are one or two blocks.
    expect(cache().stats.hits - before).toBeGreaterThan(150);
  });

  it("a projector announces the rooms of each batch, each batch following on from the last", async () => {
    const seen: AppliedAnnouncement[] = [];
    // Listening as the read API does (users may not subscribe to the projectors' subjects).
    const gateway = await h.sys.service("gateway");
    const sub2 = gateway.subscribe(appliedSubject("timeline"), {
      callback: (_e, m) => {
        seen.push(m.json());
      },
    });
    await gateway.flush();
    const a = await h.users.bob.cmd("msg.post", { roomId, body: "announced" });
    const b = await h.users.bob.cmd("msg.post", { roomId: privateRoom, body: "announced too" });
    await h.caughtUp(b.seq);
    await gateway.flush();
    sub2.unsubscribe();
    await gateway.close();
    const withA = seen.find((x) => x.seq >= a.seq)!;
    const withB = seen.find((x) => x.seq >= b.seq)!;
    expect(withA.rooms).toContain(roomId);
    expect(withB.rooms).toContain(privateRoom);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.from).toBe(seen[i - 1]!.seq);
  });

  it("shows each change in the next page: with minSeq at once, without it within moments", async () => {
    const { bob, dave } = h.users;
    const latest = () => page({ limit: 20 });
    // Held: asked twice, the second from memory.
    await latest();
    const hits = cache().stats.hits;
    await latest();
    expect(cache().stats.hits).toBeGreaterThan(hits);

    const last = (await latest()).messages.at(-1)!;
    const changes: { what: string; seq: () => Promise<number>; shows: (p: { messages: Message[] }) => boolean }[] = [
      {
        what: "a post",
        seq: async () => (await bob.cmd("msg.post", { roomId, body: "fresh post" })).seq,
        shows: (p) => p.messages.at(-1)!.body === "fresh post",
      },
      {
        what: "an edit",
        seq: async () =>
          (
            await bob
              .cmd("msg.post", { roomId, body: "to edit" })
              .then((r) => bob.cmd("msg.edit", { roomId, messageId: r.result["messageId"], body: "edited" }))
          ).seq,
        shows: (p) => p.messages.at(-1)!.body === "edited" && p.messages.at(-1)!.editedAt !== null,
      },
      {
        what: "a delete",
        seq: async () => (await bob.cmd("msg.delete", { roomId, messageId: last.messageId })).seq,
        shows: (p) => p.messages.some((m) => m.messageId === last.messageId && m.deleted && m.body === ""),
      },
      {
        what: "a reaction",
        seq: async () => (await dave.cmd("msg.react", { roomId, messageId: posts.at(-2)!.messageId, emoji: "🎉" })).seq,
        shows: (p) =>
          p.messages.some((m) => m.messageId === posts.at(-2)!.messageId && m.reactions.some((r) => r.emoji === "🎉")),
      },
      {
        what: "a thread reply",
        seq: async () =>
          (await dave.cmd("msg.post", { roomId, body: "in thread", threadRootId: posts.at(-3)!.messageId })).seq,
        shows: (p) => p.messages.some((m) => m.messageId === posts.at(-3)!.messageId && m.replyCount === 1),
      },
    ];
    for (const c of changes) {
      await latest();
      await latest(); // held now
      const seq = await c.seq();
      expect(c.shows(await page({ limit: 20 }, seq)), `${c.what}, with minSeq`).toBe(true);
    }
    // Without minSeq: the announcement alone drops the room (the entries' time to live is a minute).
    await latest();
    await bob.cmd("msg.post", { roomId, body: "no minSeq" });
    const deadline = Date.now() + 5000;
    while (!(await latest()).messages.some((m) => m.body === "no minSeq")) {
      expect(Date.now(), "the post never showed without minSeq").toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it("a page asked with a message's sequence as minSeq (as the web client does) comes from memory", async () => {
    // The newest event is a post: the rooms projection has nothing up to it and announced less.
    const post = await h.users.bob.cmd("msg.post", { roomId, body: "the newest thing" });
    await h.caughtUp(post.seq);
    await page({ limit: 20 }, post.seq);
    const hits = cache().stats.hits;
    const again = await page({ limit: 20 }, post.seq);
    expect(again.messages.at(-1)!.body).toBe("the newest thing");
    expect(cache().stats.hits).toBeGreaterThan(hits);
  });

  it("a member removed from a private room is refused from the next page on", async () => {
    const { bob, dave } = h.users;
    const ask = (minSeq?: number) => dave.q("messages", { roomId: privateRoom, ...(minSeq ? { minSeq } : {}) });
    expect((await ask()).ok).toBe(true);
    expect((await ask()).ok).toBe(true); // the access row is held now
    const removed = await bob.cmd("room.remove", { roomId: privateRoom, userId: dave.id });
    expect(await ask(removed.seq)).toEqual({
      ok: false,
      error: { code: "not_found", message: `no room ${privateRoom}`, details: { roomId: privateRoom } },
    });
    // And over HTTP, with no minSeq at all.
    expect((await dave.get(`/api/rooms/${privateRoom}/messages`)).status).toBe(404);
  });

  it("a user banned from a public room is refused from the next page on", async () => {
    const { bob, charlie } = h.users;
    expect((await charlie.q("messages", { roomId })).ok).toBe(true);
    expect((await charlie.q("messages", { roomId })).ok).toBe(true);
    const ban = await bob.cmd("room.ban", { roomId, userId: charlie.id });
    expect((await charlie.q("messages", { roomId, minSeq: ban.seq })).ok).toBe(false);
    expect((await charlie.get(`/api/rooms/${roomId}/messages`)).status).toBe(404);
  });
});

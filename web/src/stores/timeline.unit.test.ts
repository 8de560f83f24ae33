import { createRoot } from "solid-js";
import { describe, expect, test } from "vitest";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Message } from "../../../read-api/schemas.ts";
import { ServerError, type Output } from "../server.ts";
import { messageFixture } from "./fixtures.ts";
import { createTimeline, type TimelineServer } from "./timeline.ts";

const ROOM = "room1";
const ME = "alice";

const msg = (seq: number, over: Partial<Message> = {}): Message => messageFixture(seq, { roomId: ROOM, ...over });

function live(seq: number, type: string, messageId: string, payload: Record<string, unknown> = {}): LiveEvent {
  return {
    seq,
    time: new Date(Date.UTC(2026, 0, 1, 13, 0, seq)).toISOString(),
    type,
    actor: "bob",
    roomId: ROOM,
    messageId,
    payload: { roomId: ROOM, messageId, ...payload },
  };
}
const posted = (seq: number, over: Record<string, unknown> = {}) =>
  live(seq, "MessagePosted", `m${seq}`, { authorId: "bob", body: `hello ${seq}`, mentions: [], ...over });

/** A server that answers from what the test puts in, and records commands. */
function fakeServer() {
  const commands: { name: string; body: Record<string, unknown>; commandId: string | undefined }[] = [];
  let nextCommand: (() => Promise<{ result: unknown; seq: number }>) | null = null;
  const gates: (() => void)[] = [];
  const server = {
    page: { messages: [] as Message[], hasBefore: false, hasAfter: false } as Output<"messages">,
    older: { messages: [] as Message[], hasBefore: false, hasAfter: true } as Output<"messages">,
    changes: [] as Output<"changes">[],
    changesAsked: [] as number[],
    pagesAsked: [] as Parameters<TimelineServer["messages"]>[1][],
    commands,
    /** Holds the next answer until `open()` is called. */
    gate: false,
    open: () => gates.splice(0).forEach((g) => g()),
    answerNext(f: () => Promise<{ result: unknown; seq: number }>) {
      nextCommand = f;
    },
  };
  const wait = async () => {
    if (server.gate) await new Promise<void>((r) => gates.push(r));
  };
  const api: TimelineServer = {
    async messages(_roomId, page = {}) {
      server.pagesAsked.push(page);
      await wait();
      return page.before !== undefined ? server.older : server.page;
    },
    async changes(_roomId, after) {
      server.changesAsked.push(after);
      await wait();
      return server.changes.shift() ?? { messages: [], seq: after, more: false };
    },
    async command(name, body, options) {
      commands.push({ name, body: body as Record<string, unknown>, commandId: options?.commandId });
      const f = nextCommand;
      nextCommand = null;
      if (f === null) throw new ServerError("unavailable", "no answer");
      return (await f()) as never;
    },
  };
  return { server, api };
}

const ids = (t: { messages(): readonly { messageId: string }[] }) => t.messages().map((m) => m.messageId);
const flush = () => new Promise((r) => setTimeout(r, 0));

describe("timeline store", () => {
  test("a snapshot fills the window in seq order and reconciles by id", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3), msg(5), msg(8)], hasBefore: true, hasAfter: false };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadLatest();
      expect(ids(t)).toEqual(["m3", "m5", "m8"]);
      expect(t.state).toMatchObject({ hasOlder: true, hasNewer: false, status: "ready", seenSeq: 8 });
      const before = t.messages()[1];
      server.page = {
        messages: [msg(3), msg(5), msg(8, { body: "changed", updatedSeq: 9 })],
        hasBefore: true,
        hasAfter: false,
      };
      await t.loadLatest();
      // Reconciled by messageId: an unchanged message keeps its object, a changed one is updated.
      expect(t.messages()[1]).toBe(before);
      expect(t.find("m8")?.body).toBe("changed");

      server.older = { messages: [msg(1), msg(2)], hasBefore: false, hasAfter: true };
      await t.loadOlder();
      expect(ids(t)).toEqual(["m1", "m2", "m3", "m5", "m8"]);
      expect(t.state.hasOlder).toBe(false);
      dispose();
    });
  });

  test("a window is read with the newest live sequence as minSeq, so it holds what came live before it", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      let seenLive = 0;
      const t = createTimeline(ROOM, { server: api, me: ME, seenLive: () => seenLive });
      await t.loadLatest();
      expect(server.pagesAsked.at(-1)).toEqual({ limit: 50 });
      // A DM's first message reached the client before its timeline was opened.
      seenLive = 42;
      await t.loadLatest();
      expect(server.pagesAsked.at(-1)).toEqual({ limit: 50, minSeq: 42 });
      dispose();
    });
  });

  test("live deltas: post, edit, delete, reactions, thread replies; each applied once", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3)], hasBefore: false, hasAfter: false };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadLatest();

      t.applyLive(posted(4));
      t.applyLive(posted(4)); // the same event on a second subject
      expect(ids(t)).toEqual(["m3", "m4"]);

      t.applyLive(live(5, "MessageEdited", "m3", { body: "edited", previousBody: "hello 3", editedBy: "bob" }));
      expect(t.find("m3")).toMatchObject({ body: "edited", editedAt: expect.any(String), updatedSeq: 5 });

      t.applyLive(live(6, "ReactionAdded", "m4", { emoji: "👍", userId: "bob" }));
      t.applyLive(live(7, "ReactionAdded", "m4", { emoji: "🎉", userId: "carol" }));
      t.applyLive(live(8, "ReactionAdded", "m4", { emoji: "👍", userId: "carol" }));
      t.applyLive(live(8, "ReactionAdded", "m4", { emoji: "👍", userId: "carol" }));
      expect(t.find("m4")?.reactions).toEqual([
        { emoji: "👍", count: 2, userIds: ["bob", "carol"], seqs: [6, 8] },
        { emoji: "🎉", count: 1, userIds: ["carol"], seqs: [7] },
      ]);
      t.applyLive(live(9, "ReactionRemoved", "m4", { emoji: "👍", userId: "bob" }));
      expect(t.find("m4")?.reactions).toEqual([
        { emoji: "🎉", count: 1, userIds: ["carol"], seqs: [7] },
        { emoji: "👍", count: 1, userIds: ["carol"], seqs: [8] },
      ]);

      // A thread reply is counted on its root, not shown in the timeline.
      t.applyLive(
        live(10, "MessagePosted", "r1", { authorId: "carol", body: "reply", threadRootId: "m3", mentions: [] }),
      );
      t.applyLive(
        live(10, "MessagePosted", "r1", { authorId: "carol", body: "reply", threadRootId: "m3", mentions: [] }),
      );
      expect(ids(t)).toEqual(["m3", "m4"]);
      expect(t.find("m3")).toMatchObject({ replyCount: 1, lastReplyAt: expect.any(String) });

      t.applyLive(live(11, "MessageDeleted", "m4", { deletedBy: "bob" }));
      expect(t.find("m4")).toMatchObject({ deleted: true, body: "", reactions: [] });

      // Another room's event and an older event are ignored.
      t.applyLive({ ...posted(12), roomId: "other" });
      t.applyLive(live(5, "MessageEdited", "m3", { body: "stale" }));
      expect(ids(t)).toEqual(["m3", "m4"]);
      expect(t.find("m3")?.body).toBe("edited");
      expect(t.state.seenSeq).toBe(11);
      dispose();
    });
  });

  test("events that arrive while the page loads are held and applied after it", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3), msg(4)], hasBefore: false, hasAfter: false };
      server.gate = true;
      const t = createTimeline(ROOM, { server: api, me: ME });
      const loading = t.loadLatest();
      t.applyLive(posted(4)); // already in the page
      t.applyLive(posted(5));
      t.applyLive(live(6, "MessageEdited", "m3", { body: "edited" }));
      expect(ids(t)).toEqual([]);
      server.open();
      await loading;
      expect(ids(t)).toEqual(["m3", "m4", "m5"]);
      expect(t.find("m3")?.body).toBe("edited");
      dispose();
    });
  });

  test("optimistic send: pending at once, replaced by its live post, confirmed by the answer", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3)], hasBefore: false, hasAfter: false };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadLatest();

      let answer!: (v: { result: unknown; seq: number }) => void;
      server.answerNext(() => new Promise((r) => (answer = r)));
      const sending = t.sender.send("hi @bob", ["bob"]);
      const pending = t.messages().at(-1)!;
      expect(pending).toMatchObject({ pending: true, authorId: ME, body: "hi @bob", seq: 0 });
      expect(pending.clientId).toBe(pending.messageId);
      const cmd = server.commands[0]!;
      expect(cmd).toMatchObject({
        name: "msg.post",
        commandId: pending.clientId,
        body: { roomId: ROOM, body: "hi @bob", messageId: pending.clientId, mentions: ["bob"] },
      });

      // Someone else's message arrives first, then our own post: ours moves into seq order.
      t.applyLive(posted(4));
      expect(ids(t)).toEqual(["m3", "m4", pending.messageId]);
      t.applyLive(live(5, "MessagePosted", pending.messageId, { authorId: ME, body: "hi @bob", mentions: ["bob"] }));
      expect(t.find(pending.messageId)).toMatchObject({ seq: 5 });
      expect(t.find(pending.messageId)?.pending).toBeUndefined();

      answer({ result: { messageId: pending.messageId, seq: 5 }, seq: 5 });
      await sending;
      expect(ids(t)).toEqual(["m3", "m4", pending.messageId]);
      expect(t.messages().filter((m) => m.pending === true || m.failed === true)).toEqual([]);

      // The answer before the live post: confirmed by the answer; the live post then changes nothing.
      server.answerNext(async () => ({ result: { messageId: "x", seq: 6 }, seq: 6 }));
      await t.sender.send("second");
      const second = t.messages().at(-1)!;
      expect(second).toMatchObject({ seq: 6, body: "second" });
      expect(second.pending).toBeUndefined();
      t.applyLive(live(6, "MessagePosted", second.messageId, { authorId: ME, body: "second", mentions: [] }));
      expect(t.messages().length).toBe(4);
      dispose();
    });
  });

  test("optimistic send rolls back to failed with the reason, and Retry sends the same command again", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3)], hasBefore: false, hasAfter: false };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadLatest();

      server.answerNext(async () => {
        throw new ServerError("rate_limited", "Slow down.");
      });
      await t.sender.send("oops");
      const failed = t.messages().at(-1)!;
      expect(failed).toMatchObject({ failed: true, pending: false, body: "oops" });
      expect(t.sender.errors[failed.clientId!]).toBe("Slow down.");

      server.answerNext(async () => ({ result: { messageId: failed.messageId, seq: 4 }, seq: 4 }));
      await t.sender.retry(failed.clientId!);
      expect(server.commands.map((c) => c.commandId)).toEqual([failed.clientId, failed.clientId]);
      expect(t.find(failed.messageId)).toMatchObject({ seq: 4 });
      expect(t.find(failed.messageId)?.failed).toBeUndefined();
      expect(t.sender.errors[failed.clientId!]).toBeUndefined();

      server.answerNext(async () => {
        throw new ServerError("forbidden", "Archived.");
      });
      await t.sender.send("never");
      const gone = t.messages().at(-1)!;
      t.sender.discard(gone.clientId!);
      expect(ids(t)).toEqual(["m3", failed.messageId]);
      dispose();
    });
  });

  test("resume after a reconnect: changes after the last seq, held events applied once, already-applied seqs dropped", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3), msg(4)], hasBefore: false, hasAfter: false };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadLatest();
      t.applyLive(posted(5));
      expect(t.state.seenSeq).toBe(5);

      // Disconnected: 6 (a post), 7 (an edit of m4), 8 (a reaction on 6) happened meanwhile.
      server.changes = [
        {
          messages: [
            msg(4, { body: "edited", editedAt: "2026-01-01T13:00:07Z", updatedSeq: 7 }),
            msg(6, { updatedSeq: 8, reactions: [{ emoji: "👍", count: 1, userIds: ["bob"], seqs: [8] }] }),
          ],
          seq: 8,
          more: false,
        },
      ];
      server.gate = true;
      const resuming = t.catchUp();
      // Resubscribed before asking: live events arrive during the catch-up, some it also answers.
      t.applyLive(live(7, "MessageEdited", "m4", { body: "edited" }));
      t.applyLive(live(8, "ReactionAdded", "m6", { emoji: "👍", userId: "bob" }));
      t.applyLive(posted(9));
      expect(ids(t)).toEqual(["m3", "m4", "m5"]);
      server.open();
      await resuming;
      expect(server.changesAsked).toEqual([5]);
      expect(ids(t)).toEqual(["m3", "m4", "m5", "m6", "m9"]);
      expect(t.find("m4")?.body).toBe("edited");
      expect(t.find("m6")?.reactions).toEqual([{ emoji: "👍", count: 1, userIds: ["bob"], seqs: [8] }]);
      expect(t.state.seenSeq).toBe(9);

      // Events replayed after a fan-out failover change nothing.
      t.applyLive(live(8, "ReactionAdded", "m6", { emoji: "👍", userId: "bob" }));
      t.applyLive(posted(9));
      expect(t.find("m6")?.reactions[0]?.count).toBe(1);
      expect(ids(t)).toEqual(["m3", "m4", "m5", "m6", "m9"]);
      dispose();
    });
  });

  test("a catch-up cut short asks again from where the answer ended", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3)], hasBefore: false, hasAfter: false };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadLatest();
      server.changes = [
        { messages: [msg(4)], seq: 4, more: true },
        { messages: [msg(5)], seq: 5, more: false },
      ];
      await t.catchUp();
      expect(server.changesAsked).toEqual([3, 4]);
      expect(ids(t)).toEqual(["m3", "m4", "m5"]);
      await flush();
      dispose();
    });
  });

  test("a window away from the live end takes no new posts until it reaches it", async () => {
    await createRoot(async (dispose) => {
      const { server, api } = fakeServer();
      server.page = { messages: [msg(3), msg(4)], hasBefore: true, hasAfter: true };
      const t = createTimeline(ROOM, { server: api, me: ME });
      await t.loadAround("m3");
      t.applyLive(posted(20));
      expect(ids(t)).toEqual(["m3", "m4"]);
      t.applyLive(live(21, "MessageEdited", "m4", { body: "edited" }));
      expect(t.find("m4")?.body).toBe("edited");
      dispose();
    });
  });
});

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EVENT_STREAM, timelineFilter, type EventStore } from "../streams/index.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import {
  startCommandHarness,
  startCommandInstance,
  type CommandHarness,
  type CommandInstance,
} from "../test/commandHarness.ts";

/**
 * Issue 15's idempotency, through the command service as clients reach it: a msg.post is applied
 * once however it is repeated (within the stream's duplicate window, after a restart, after the
 * window), a command or message id dated in the future is refused, and a message id that another
 * command or user has taken is refused: never answered with their event.
 */

/** The short duplicate window of the stream in "after the window". */
const WINDOW_MS = 1000;
const MINUTE = 60_000;

/** The events carrying `commandId`, across the log. */
async function carrying(h: CommandHarness, commandId: string): Promise<number> {
  return (await h.allEvents()).filter((e) => e.commandId === commandId).length;
}

/** The `MessagePosted` events of a room, as `messageId@seq by actor`. */
async function postedIn(store: EventStore, roomId: string): Promise<string[]> {
  const events = await store.readSubject(timelineFilter(roomId));
  return events
    .filter((e) => e.type === "MessagePosted")
    .map((e) => `${(e.event.data as { messageId: string }).messageId}@${e.seq} by ${e.actor}`);
}

async function publicRoom(h: CommandHarness, owner: string, members: string[]): Promise<string> {
  const roomId = (await mustSend(h.nc, owner, "room.create", { name: `idem ${ulid()}`, kind: "public" })).result[
    "roomId"
  ] as string;
  for (const m of members) await mustSend(h.nc, m, "room.join", { roomId });
  return roomId;
}

/**
 * Resolves once the duplicate window has passed since the message at `seq` of `stream` was
 * appended (by the stream's own timestamp), and a margin for the server's purge of the ids it
 * remembers. The window is a span of time: there is nothing to wait on but the time itself, and
 * the server offers no question that tells without storing a message (nats-server 2.15 checks an
 * expected last sequence before duplicates, so only a publish that could be stored reaches the
 * duplicate check). The first test of "after the duplicate window" shows the margin is enough.
 */
async function pastTheWindow(nc: NatsConnection, seq: number, stream = EVENT_STREAM): Promise<void> {
  const stored = (await (await jetstreamManager(nc)).direct.getMessage(stream, { seq }))!;
  const wait = stored.time.getTime() + WINDOW_MS + 500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** A server with the default duplicate window, and two instances in the queue group. */
let h: CommandHarness;
let second: CommandInstance;
beforeAll(async () => {
  h = await startCommandHarness();
  second = await startCommandInstance(h.server.url);
});
afterAll(async () => {
  await second?.stop();
  await h?.stop();
});

describe("within the duplicate window", () => {
  test("a msg.post sent again: one event, identical replies", async () => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann"]);
    const commandId = ulid();
    const first = await sendCommand(h.nc, "w-ann", "msg.post", { roomId, body: "once" }, { commandId });
    const again = await sendCommand(h.nc, "w-ann", "msg.post", { roomId, body: "once" }, { commandId });
    expect(first).toMatchObject({ ok: true, result: { messageId: commandId } });
    expect(again).toEqual(first);
    expect(await carrying(h, commandId)).toBe(1);
  });

  test("a msg.post with a client messageId sent four times at once, over two instances: one event, four identical replies", async () => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann"]);
    const commandId = ulid();
    const messageId = ulid();
    const replies = await Promise.all(
      [h.nc, second.nc, h.nc, second.nc].map((nc) =>
        sendCommand(nc, "w-ann", "msg.post", { roomId, messageId, body: "at once" }, { commandId }),
      ),
    );
    expect(replies[0]).toMatchObject({ ok: true, result: { messageId } });
    for (const r of replies) expect(r).toEqual(replies[0]);
    expect(await postedIn(h.store, roomId)).toEqual([`${messageId}@${replies[0]!.ok ? replies[0]!.seq : 0} by w-ann`]);
  });

  test("after a restart (a new instance, an empty cache): one event, an identical reply", async () => {
    const own = await startCommandHarness();
    try {
      const roomId = await publicRoom(own, "r-owner", ["r-ann"]);
      const commandId = ulid();
      const withId = { commandId: ulid(), messageId: ulid() };
      const first = await sendCommand(
        own.nc,
        "r-ann",
        "msg.post",
        { roomId, body: "before the restart" },
        { commandId },
      );
      const firstWithId = await sendCommand(
        own.nc,
        "r-ann",
        "msg.post",
        { roomId, messageId: withId.messageId, body: "mine" },
        { commandId: withId.commandId },
      );
      await own.service.drain();
      const restarted = await startCommandInstance(own.server.url);
      try {
        const again = await sendCommand(
          restarted.nc,
          "r-ann",
          "msg.post",
          { roomId, body: "before the restart" },
          { commandId },
        );
        const againWithId = await sendCommand(
          restarted.nc,
          "r-ann",
          "msg.post",
          { roomId, messageId: withId.messageId, body: "mine" },
          { commandId: withId.commandId },
        );
        expect(first.ok && firstWithId.ok).toBe(true);
        expect(again).toEqual(first);
        expect(againWithId).toEqual(firstWithId);
        expect(await carrying(own, commandId)).toBe(1);
        expect(await carrying(own, withId.commandId)).toBe(1);
      } finally {
        await restarted.stop();
      }
    } finally {
      await own.nc.close();
      await own.server.stop();
    }
  });

  test("a post retried after the room moved on (someone joined since): one event, the identical reply", async () => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann"]);
    const commandId = ulid();
    const first = await sendCommand(h.nc, "w-ann", "msg.post", { roomId, body: "before the join" }, { commandId });
    await mustSend(h.nc, "w-ben", "room.join", { roomId });
    const again = await sendCommand(second.nc, "w-ann", "msg.post", { roomId, body: "before the join" }, { commandId });
    expect(first.ok).toBe(true);
    expect(again).toEqual(first);
    expect(await carrying(h, commandId)).toBe(1);
  });

  test("posts retried after their author was removed and the room archived (their replies lost): the first answers, not forbidden", async () => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann", "w-ben"]);
    const [annId, benId] = [ulid(), ulid()];
    const ann = await sendCommand(h.nc, "w-ann", "msg.post", { roomId, body: "then removed" }, { commandId: annId });
    const ben = await sendCommand(h.nc, "w-ben", "msg.post", { roomId, body: "then archived" }, { commandId: benId });
    await mustSend(h.nc, "w-owner", "room.remove", { roomId, userId: "w-ann" });
    await mustSend(h.nc, "w-owner", "room.archive", { roomId });
    const annAgain = await sendCommand(
      h.nc,
      "w-ann",
      "msg.post",
      { roomId, body: "then removed" },
      { commandId: annId },
    );
    const benAgain = await sendCommand(
      second.nc,
      "w-ben",
      "msg.post",
      { roomId, body: "then archived" },
      { commandId: benId },
    );
    expect(ann.ok && ben.ok).toBe(true);
    expect(annAgain).toEqual(ann);
    expect(benAgain).toEqual(ben);
    expect(await carrying(h, annId)).toBe(1);
    expect(await carrying(h, benId)).toBe(1);
  });

  test.each([
    ["the same user's other command", "w-ann"],
    ["another user", "w-ben"],
  ])("a messageId %s took: refused, nothing appended, not answered as the first", async (_, reuser) => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann", "w-ben"]);
    const messageId = ulid();
    const first = await mustSend(h.nc, "w-ann", "msg.post", { roomId, messageId, body: "the first" });
    const other = await sendCommand(h.nc, reuser, "msg.post", { roomId, messageId, body: "another command" });
    expect(other).toMatchObject({ ok: false, error: { code: "conflict" } });
    expect(await postedIn(h.store, roomId)).toEqual([`${messageId}@${first.seq} by w-ann`]);
  });

  test("two users' posts with one commandId in one room (so one default messageId): the second is refused, not answered as the first's", async () => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann", "w-ben"]);
    const commandId = ulid();
    const ann = await mustSend(h.nc, "w-ann", "msg.post", { roomId, body: "ann's" }, { commandId });
    const ben = await sendCommand(h.nc, "w-ben", "msg.post", { roomId, body: "ben's" }, { commandId });
    expect(ben).toMatchObject({ ok: false, error: { code: "conflict" } });
    expect(await postedIn(h.store, roomId)).toEqual([`${commandId}@${ann.seq} by w-ann`]);
  });

  test("two users posting one messageId at once, over two instances: one is in the log, the other refused", async () => {
    const roomId = await publicRoom(h, "w-owner", ["w-ann", "w-ben"]);
    const messageId = ulid();
    const [ann, ben] = await Promise.all([
      sendCommand(h.nc, "w-ann", "msg.post", { roomId, messageId, body: "ann's" }),
      sendCommand(second.nc, "w-ben", "msg.post", { roomId, messageId, body: "ben's" }),
    ]);
    const won = [ann, ben].filter((r) => r.ok);
    const lost = [ann, ben].filter((r) => !r.ok);
    expect(won).toHaveLength(1);
    expect(lost).toMatchObject([{ ok: false, error: { code: "conflict" } }]);
    const winner = ann.ok ? "w-ann" : "w-ben";
    expect(await postedIn(h.store, roomId)).toEqual([`${messageId}@${won[0]!.ok ? won[0]!.seq : 0} by ${winner}`]);
  });
});

describe("ids dated in the future", () => {
  test("a commandId dated an hour ahead is invalid, and nothing is appended", async () => {
    const roomId = await publicRoom(h, "f-owner", ["f-ann"]);
    const before = await h.eventCount();
    const ahead = ulid(Date.now() + 60 * MINUTE);
    const post = await sendCommand(
      h.nc,
      "f-ann",
      "msg.post",
      { roomId, body: "from the future" },
      { commandId: ahead },
    );
    const join = await sendCommand(
      h.nc,
      "f-ben",
      "room.join",
      { roomId },
      { commandId: ulid(Date.now() + 60 * MINUTE) },
    );
    const create = await sendCommand(
      h.nc,
      "f-ann",
      "room.create",
      { name: "tomorrow's", kind: "public" },
      { commandId: ulid(Date.now() + 60 * MINUTE) },
    );
    expect(post).toMatchObject({ ok: false, error: { code: "invalid" } });
    expect(join).toMatchObject({ ok: false, error: { code: "invalid" } });
    expect(create).toMatchObject({ ok: false, error: { code: "invalid" } });
    expect(await h.eventCount()).toBe(before);
  });

  test("a client messageId dated an hour ahead is invalid, and nothing is appended", async () => {
    const roomId = await publicRoom(h, "f-owner", ["f-ann"]);
    const before = await h.eventCount();
    const post = await sendCommand(h.nc, "f-ann", "msg.post", {
      roomId,
      messageId: ulid(Date.now() + 60 * MINUTE),
      body: "from the future",
    });
    expect(post).toMatchObject({ ok: false, error: { code: "invalid" } });
    expect(await h.eventCount()).toBe(before);
  });

  test("ids a second ahead (a client clock a little fast) are accepted", async () => {
    const roomId = await publicRoom(h, "f-owner", ["f-ann"]);
    const commandId = ulid(Date.now() + 1000);
    const messageId = ulid(Date.now() + 1000);
    expect(await sendCommand(h.nc, "f-ann", "msg.post", { roomId, body: "nearly now" }, { commandId })).toMatchObject({
      ok: true,
      result: { messageId: commandId },
    });
    expect(await sendCommand(h.nc, "f-ann", "msg.post", { roomId, messageId, body: "nearly now" })).toMatchObject({
      ok: true,
      result: { messageId },
    });
  });
});

describe("after the duplicate window", () => {
  /** The stream is made with a 1 s window; every instance is configured with it, as one deployment's are. */
  const stream = { duplicateWindowMs: WINDOW_MS };
  let short: CommandHarness;
  beforeAll(async () => {
    short = await startCommandHarness({ stream });
  });
  afterAll(async () => {
    await short?.stop();
  });

  /**
   * Sends one post, then the same command again after the window to the instance that applied it
   * and then to a new one (an empty cache) alone: both answers must be the first, with one event
   * in the log. `meanwhile` runs between the first send and the window's end. A server of its own,
   * since its instance is drained.
   */
  async function repeatedAfterTheWindow(
    commandId: string,
    messageId: string | undefined,
    meanwhile?: (own: CommandHarness, roomId: string) => Promise<void>,
  ): Promise<void> {
    const own = await startCommandHarness({ stream });
    try {
      const roomId = await publicRoom(own, "a-owner", ["a-ann"]);
      const body = { roomId, body: "said once", ...(messageId === undefined ? {} : { messageId }) };
      const first = await sendCommand(own.nc, "a-ann", "msg.post", body, { commandId });
      expect(first).toMatchObject({ ok: true, result: { messageId: messageId ?? commandId } });
      await meanwhile?.(own, roomId);
      await pastTheWindow(own.nc, first.ok ? first.seq : 0);
      const again = await sendCommand(own.nc, "a-ann", "msg.post", body, { commandId });
      await own.service.drain();
      const fresh = await startCommandInstance(own.server.url, { stream });
      const afterRestart = await sendCommand(fresh.nc, "a-ann", "msg.post", body, { commandId });
      await fresh.stop();
      expect(again).toEqual(first);
      expect(afterRestart).toEqual(first);
      expect(await carrying(own, commandId)).toBe(1);
      expect(await postedIn(own.store, roomId)).toHaveLength(1);
    } finally {
      await own.nc.close();
      await own.server.stop();
    }
  }

  test("the wait outlasts the window: the server has forgotten a message id by then (a scratch stream)", async () => {
    const jsm = await jetstreamManager(short.nc);
    await jsm.streams.add({
      name: "WINDOW_CHECK",
      subjects: ["window-check.>"],
      duplicate_window: WINDOW_MS * 1_000_000,
      allow_direct: true,
    });
    const js = jetstream(short.nc);
    const first = await js.publish("window-check.a", "1", { msgID: "the-id" });
    expect((await js.publish("window-check.a", "1", { msgID: "the-id" })).duplicate).toBe(true);
    await pastTheWindow(short.nc, first.seq, "WINDOW_CHECK");
    expect((await js.publish("window-check.a", "1", { msgID: "the-id" })).duplicate).toBe(false);
    await jsm.streams.delete("WINDOW_CHECK");
  });

  test("a commandId ten minutes old (older than the window): one event, the first answer, to the same and to a new instance", async () => {
    await repeatedAfterTheWindow(ulid(Date.now() - 10 * MINUTE), undefined);
  });

  test("a commandId and a client messageId ten minutes old: one event, the first answer", async () => {
    await repeatedAfterTheWindow(ulid(Date.now() - 10 * MINUTE), ulid(Date.now() - 10 * MINUTE));
  });

  test("a commandId made now and retried after the window has passed: one event, the first answer", async () => {
    await repeatedAfterTheWindow(ulid(), undefined);
  });

  test("a post retried after the window, its author removed meanwhile: the first answer, not forbidden", async () => {
    await repeatedAfterTheWindow(ulid(), undefined, (own, roomId) =>
      mustSend(own.nc, "a-owner", "room.remove", { roomId, userId: "a-ann" }).then(() => undefined),
    );
  });

  test("a messageId another user took, reused after the window: refused, nothing appended", async () => {
    const roomId = await publicRoom(short, "a-owner", ["a-ann", "a-ben"]);
    const old = ulid(Date.now() - 10 * MINUTE);
    const young = ulid();
    const firstOld = await mustSend(short.nc, "a-ann", "msg.post", { roomId, messageId: old, body: "ann's old id" });
    const firstYoung = await mustSend(short.nc, "a-ann", "msg.post", {
      roomId,
      messageId: young,
      body: "ann's new id",
    });
    await pastTheWindow(short.nc, firstYoung.seq);
    const reusedOld = await sendCommand(short.nc, "a-ben", "msg.post", { roomId, messageId: old, body: "ben's" });
    const reusedYoung = await sendCommand(short.nc, "a-ben", "msg.post", { roomId, messageId: young, body: "ben's" });
    const sameUser = await sendCommand(short.nc, "a-ann", "msg.post", {
      roomId,
      messageId: young,
      body: "ann's other command",
    });
    expect(reusedOld).toMatchObject({ ok: false, error: { code: "conflict" } });
    expect(reusedYoung).toMatchObject({ ok: false, error: { code: "conflict" } });
    expect(sameUser).toMatchObject({ ok: false, error: { code: "conflict" } });
    expect(await postedIn(short.store, roomId)).toEqual([
      `${old}@${firstOld.seq} by a-ann`,
      `${young}@${firstYoung.seq} by a-ann`,
    ]);
  });
});

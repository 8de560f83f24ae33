import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  AggregateRepository,
  CommandIndex,
  connectNats,
  ensureBuckets,
  ensureEventStream,
  EventStore,
  messageSubject,
} from "../streams/index.ts";
import { startTestNats } from "../test/nats.ts";
import { CommandHandler, type CommandReply } from "./handler.ts";
import { parseCommandSubject } from "./subject.ts";

/** The stream's duplicate window here: short, so a test can be past it. */
const WINDOW_MS = 1000;

/**
 * Two command handlers, each with a cache of its own, as two command-service instances have, on one
 * real server: what one has cached must never make it decide what the log says otherwise.
 */
describe("two instances with caches of their own", () => {
  let server: Awaited<ReturnType<typeof startTestNats>>;
  let store: EventStore;
  let a: CommandHandler;
  let b: CommandHandler;
  let nc: Awaited<ReturnType<typeof connectNats>>;
  beforeAll(async () => {
    server = await startTestNats();
    nc = await connectNats(server.url);
    await ensureEventStream(nc, { duplicateWindowMs: WINDOW_MS });
    await ensureBuckets(nc, {});
    store = new EventStore(nc);
    const handler = () =>
      new CommandHandler(store, new AggregateRepository(store, undefined), new CommandIndex(store.requests), {
        duplicateWindowMs: WINDOW_MS,
      });
    a = handler();
    b = handler();
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  const send = async (
    h: CommandHandler,
    user: string,
    action: string,
    body: object,
    commandId = ulid(),
  ): Promise<CommandReply> =>
    (
      await h.handle({
        subject: parseCommandSubject(`cmd.${user}.${action}`),
        data: new TextEncoder().encode(JSON.stringify({ commandId, ...body })),
        headers: undefined,
      })
    ).reply;
  const room = async (...members: string[]) => {
    const r = await send(b, "owner", "room.create", { name: `r ${ulid()}`, kind: "public" });
    if (!r.ok) throw new Error(`room.create failed: ${r.error.message}`);
    const roomId = r.result["roomId"] as string;
    for (const m of members) expect((await send(b, m, "room.join", { roomId })).ok).toBe(true);
    return roomId;
  };

  test("a message id posted through one instance, after the window, through another that cached it as absent: refused, one post in the log", async () => {
    const roomId = await room("u1", "u2");
    const x = ulid();
    // a caches x as a message that does not exist.
    expect(await send(a, "u2", "msg.react", { roomId, messageId: x, emoji: "👍" })).toMatchObject({
      ok: false,
      error: { code: "not_found" },
    });
    expect((await send(b, "u1", "msg.post", { roomId, messageId: x, body: "first" })).ok).toBe(true);
    await new Promise((r) => setTimeout(r, WINDOW_MS + 500));
    expect(await send(a, "u2", "msg.post", { roomId, messageId: x, body: "taken over" })).toMatchObject({
      ok: false,
      error: { code: "conflict" },
    });
    const posts = (await store.readSubject(messageSubject(roomId, x))).filter((e) => e.type === "MessagePosted");
    expect(posts.map((e) => e.actor)).toEqual(["u1"]);
  });

  test("a messageId dated in the future is invalid, whatever the commandId", async () => {
    const roomId = await room("u1");
    const future = ulid(Date.now() + 10 * 24 * 3600 * 1000);
    for (const commandId of ["plain-command-id", ulid(Date.now() - 3_600_000), ulid()]) {
      expect(
        await send(a, "u1", "msg.post", { roomId, messageId: future, body: "from the future" }, commandId),
      ).toMatchObject({ ok: false, error: { code: "invalid" } });
    }
    expect(await store.readSubject(messageSubject(roomId, future))).toEqual([]);
  });

  test("a reply to a root deleted through the other instance is refused by both", async () => {
    const roomId = await room("u1");
    const posted = await send(a, "u1", "msg.post", { roomId, body: "root" });
    if (!posted.ok) throw new Error(`the root was not posted: ${posted.error.message}`);
    const root = { result: { messageId: posted.result["messageId"] as string } };
    // a caches the root as it is now.
    expect(
      (await send(a, "u1", "msg.post", { roomId, body: "first reply", threadRootId: root.result.messageId })).ok,
    ).toBe(true);
    expect((await send(b, "u1", "msg.delete", { roomId, messageId: root.result.messageId })).ok).toBe(true);
    for (const h of [b, a]) {
      expect(
        await send(h, "u1", "msg.post", { roomId, body: "late reply", threadRootId: root.result.messageId }),
      ).toMatchObject({ ok: false, error: { code: "invalid" } });
    }
  });

  test("a refusal reached on the last attempt is answered as the refusal, not as a conflict", async () => {
    const one = new CommandHandler(store, new AggregateRepository(store, undefined), new CommandIndex(store.requests), {
      duplicateWindowMs: WINDOW_MS,
      maxAttempts: 1,
    });
    const roomId = await room();
    expect(await send(one, "stranger", "msg.post", { roomId, body: "not a member" })).toMatchObject({
      ok: false,
      error: { code: "forbidden" },
    });
  });
});

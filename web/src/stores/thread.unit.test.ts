import { createRoot } from "solid-js";
import { describe, expect, test, vi } from "vitest";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Message } from "../../../read-api/schemas.ts";
import { messageFixture } from "./fixtures.ts";
import { createThread, type ThreadServer } from "./thread.ts";

const m = (seq: number, over: Partial<Message> = {}): Message =>
  messageFixture(seq, { threadRootId: "m1", body: `b${seq}`, ...over });
const posted = (seq: number, threadRootId: string | undefined, authorId = "bob", id = `m${seq}`): LiveEvent => ({
  seq,
  time: "2026-01-01T00:00:01Z",
  type: "MessagePosted",
  actor: authorId,
  roomId: "r",
  messageId: id,
  payload: {
    roomId: "r",
    messageId: id,
    authorId,
    body: `b${seq}`,
    mentions: [],
    ...(threadRootId === undefined ? {} : { threadRootId }),
  },
});

describe("thread store", () => {
  test("root and replies; live replies to this root only, counted on the root; optimistic replies carry the root", async () => {
    await createRoot(async (dispose) => {
      const command = vi.fn(async () => ({ result: { messageId: "x", seq: 9 }, seq: 9 }));
      const server = {
        thread: vi.fn(async () => ({
          root: m(1, { threadRootId: null, replyCount: 1, updatedSeq: 2 }),
          replies: [m(2)],
          participants: ["bob"],
        })),
        command,
      } as unknown as ThreadServer;
      const t = createThread("r", "m1", { server, me: "alice" });
      await t.load();
      expect(t.root()?.replyCount).toBe(1);
      expect(t.replies().map((x) => x.messageId)).toEqual(["m2"]);

      t.applyLive(posted(2, "m1")); // already loaded
      t.applyLive(posted(3, "m1"));
      t.applyLive(posted(4, "other"));
      t.applyLive(posted(5, undefined));
      expect(t.replies().map((x) => x.messageId)).toEqual(["m2", "m3"]);
      expect(t.root()).toMatchObject({ replyCount: 2, updatedSeq: 3 });

      await t.sender.send("mine");
      expect(command).toHaveBeenCalledWith(
        "msg.post",
        expect.objectContaining({ roomId: "r", body: "mine", threadRootId: "m1" }),
        expect.anything(),
      );
      expect(t.replies().at(-1)).toMatchObject({ body: "mine", seq: 9, threadRootId: "m1" });
      expect(t.messages().map((x) => x.messageId)[0]).toBe("m1");
      // The user's own reply, confirmed by the answer first, still counts on the root when its post arrives.
      const mine = t.replies().at(-1)!;
      t.applyLive(posted(9, "m1", "alice", mine.messageId));
      t.applyLive(posted(9, "m1", "alice", mine.messageId));
      expect(t.root()?.replyCount).toBe(3);
      expect(t.replies()).toHaveLength(3);
      dispose();
    });
  });
});

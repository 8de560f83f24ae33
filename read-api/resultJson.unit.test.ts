import fc from "fast-check";
import { expect, test } from "vitest";
import { messageJson, resultJson } from "./resultJson.ts";
import type { Message } from "./schemas.ts";

const message = fc.record({
  messageId: fc.string(),
  roomId: fc.string(),
  seq: fc.nat(),
  authorId: fc.string(),
  body: fc.string({ unit: "grapheme" }),
  postedAt: fc.string(),
  editedAt: fc.option(fc.string()),
  deleted: fc.boolean(),
  reactions: fc.array(
    fc.record({ emoji: fc.string(), count: fc.nat(), userIds: fc.array(fc.string()), seqs: fc.array(fc.nat()) }),
  ),
  threadRootId: fc.option(fc.string()),
  replyCount: fc.nat(),
  lastReplyAt: fc.option(fc.string()),
  updatedSeq: fc.nat(),
}) as fc.Arbitrary<Message>;

test("a page put together from its messages' text reads back as the page, whatever the bodies hold", () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 20 }), fc.boolean(), fc.boolean(), (messages, hasBefore, hasAfter) => {
      const page = { messages, hasBefore, hasAfter };
      expect(JSON.parse(resultJson("messages", page))).toEqual(JSON.parse(JSON.stringify(page)));
    }),
  );
});

test("fields a page may gain later are kept; other queries are plain JSON", () => {
  const page = { messages: [], hasBefore: false, hasAfter: true, cursor: "x" };
  expect(JSON.parse(resultJson("messages", page))).toEqual(page);
  expect(JSON.parse(resultJson("messages", { messages: [] }))).toEqual({ messages: [] });
  expect(resultJson("rooms", { rooms: [{ a: "\u2028" }] })).toBe(JSON.stringify({ rooms: [{ a: "\u2028" }] }));
});

test("a message's text is made once per message object (so messages must never be changed in place)", () => {
  const m = { ...fc.sample(message, 1)[0]!, body: "before" };
  const first = messageJson(m);
  m.body = "changed in place";
  expect(JSON.parse(messageJson(m)).body).toBe("before");
  expect(messageJson(m)).toBe(first);
  // A changed message is a new object, with its own text.
  expect(JSON.parse(messageJson({ ...m })).body).toBe("changed in place");
});

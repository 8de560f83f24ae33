import type { Message } from "../../../read-api/schemas.ts";

/**
 * A message for tests: `m<seq>` by bob in room `r`, posted at second `seq` of 2026-01-01, with
 * `over` on top.
 */
export function messageFixture(seq: number, over: Partial<Message> = {}): Message {
  return {
    messageId: `m${seq}`,
    roomId: "r",
    seq,
    authorId: "bob",
    body: `hello ${seq}`,
    postedAt: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(),
    editedAt: null,
    deleted: false,
    reactions: [],
    threadRootId: null,
    replyCount: 0,
    lastReplyAt: null,
    updatedSeq: seq,
    ...over,
  };
}

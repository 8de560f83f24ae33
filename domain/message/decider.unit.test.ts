import { describe, expect, test } from "vitest";
import { ConflictError, ForbiddenError, InvalidError, NotFoundError } from "../errors.ts";
import type { RoomEvent } from "../room/events.ts";
import { givenMessage, messageFrom, messagePosted, meta, msg, room, roomCreated, user } from "../testing/given.ts";
import type { MessageEvent } from "./events.ts";

const roomId = room("r1");
const owen = user("owen"); // owner
const mona = user("mona"); // moderator
const mick = user("mick"); // member
const tess = user("tess"); // member, the usual author
const otto = user("otto"); // not a member
const m1 = msg("m1");

const general = roomCreated("r1", "public", [
  ["owen", "owner"],
  ["mona", "moderator"],
  ["mick", "member"],
  ["tess", "member"],
]);
const elsewhere = roomCreated("r2", "public", [["tess", "owner"]]);
const archived: RoomEvent = { type: "RoomArchived", data: { roomId, archivedBy: owen } };
const tessLeft: RoomEvent = { type: "MemberLeft", data: { roomId, userId: tess } };
const inGeneral = { room: [general] };

const posted = messagePosted("r1", "m1", "tess", "hello");
const deleted: MessageEvent = { type: "MessageDeleted", data: { roomId, messageId: m1, deletedBy: tess } };
const reacted = (who: string, emoji = "👍"): MessageEvent => ({
  type: "ReactionAdded",
  data: { roomId, messageId: m1, emoji, userId: user(who) },
});

describe("msg.post", () => {
  test("a member posts; the message id comes from the command id", () => {
    givenMessage([], inGeneral)
      .when({ type: "post", data: { roomId, body: "hi all" }, meta: meta("mick", "user", "01JPOST") })
      .then([
        {
          type: "MessagePosted",
          data: { roomId, messageId: msg("01JPOST"), authorId: mick, body: "hi all", mentions: [] },
        },
      ]);
  });

  test("a given messageId is kept", () => {
    givenMessage([], inGeneral)
      .when({ type: "post", data: { roomId, body: "hi", messageId: m1 }, meta: meta("mick") })
      .then([{ type: "MessagePosted", data: { roomId, messageId: m1, authorId: mick, body: "hi", mentions: [] } }]);
  });

  test("mentions are kept once each, without the author", () => {
    givenMessage([], inGeneral)
      .when({
        type: "post",
        data: { roomId, body: "@tess @mona", messageId: m1, mentions: [tess, mick, mona, tess] },
        meta: meta("mick"),
      })
      .then([
        {
          type: "MessagePosted",
          data: { roomId, messageId: m1, authorId: mick, body: "@tess @mona", mentions: [tess, mona] },
        },
      ]);
  });

  test("a thread reply names its root", () => {
    givenMessage([], { room: [general], threadRoot: [posted] })
      .when({ type: "post", data: { roomId, body: "re", messageId: msg("m2"), threadRootId: m1 }, meta: meta("mick") })
      .then([
        {
          type: "MessagePosted",
          data: { roomId, messageId: msg("m2"), authorId: mick, body: "re", mentions: [], threadRootId: m1 },
        },
      ]);
  });

  test("a reply to a reply is refused: replies go to the root", () => {
    givenMessage([], { room: [general], threadRoot: [messagePosted("r1", "m2", "tess", "re", "m1")] })
      .when({
        type: "post",
        data: { roomId, body: "re re", messageId: msg("m3"), threadRootId: msg("m2") },
        meta: meta("mick"),
      })
      .thenThrows(InvalidError);
  });

  test("a thread root in another room is not found", () => {
    givenMessage([], { room: [general], threadRoot: [messagePosted("r2", "m1", "tess")] })
      .when({ type: "post", data: { roomId, body: "re", messageId: msg("m2"), threadRootId: m1 }, meta: meta("mick") })
      .thenThrows(NotFoundError);
  });

  test("a thread root that does not exist is not found", () => {
    givenMessage([], { room: [general], threadRoot: [] })
      .when({ type: "post", data: { roomId, body: "re", messageId: msg("m2"), threadRootId: m1 }, meta: meta("mick") })
      .thenThrows(NotFoundError);
    givenMessage([], inGeneral)
      .when({ type: "post", data: { roomId, body: "re", messageId: msg("m2"), threadRootId: m1 }, meta: meta("mick") })
      .thenThrows(NotFoundError);
  });

  test("a deleted root takes no replies", () => {
    givenMessage([], { room: [general], threadRoot: [posted, deleted] })
      .when({ type: "post", data: { roomId, body: "re", messageId: msg("m2"), threadRootId: m1 }, meta: meta("mick") })
      .thenThrows(InvalidError);
  });

  test.each(["user", "admin"] as const)("a non-member does not post, even with %s privilege", (privilege) => {
    givenMessage([], inGeneral)
      .when({ type: "post", data: { roomId, body: "hi" }, meta: meta("otto", privilege) })
      .thenThrows(ForbiddenError);
  });

  test("a member who left posts no more", () => {
    givenMessage([], { room: [general, tessLeft] })
      .when({ type: "post", data: { roomId, body: "hi" }, meta: meta("tess") })
      .thenThrows(ForbiddenError);
  });

  test("no one posts in an archived room", () => {
    givenMessage([], { room: [general, archived] })
      .when({ type: "post", data: { roomId, body: "hi" }, meta: meta("owen", "admin") })
      .thenThrows(ForbiddenError);
  });

  test("a room that does not exist takes no posts", () => {
    givenMessage([], { room: [] })
      .when({ type: "post", data: { roomId, body: "hi" }, meta: meta("mick") })
      .thenThrows(NotFoundError);
  });

  test("a message id that is taken is refused", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "post", data: { roomId, body: "again", messageId: m1 }, meta: meta("mick") })
      .thenThrows(ConflictError);
  });

  test("a member without a realm role does not post", () => {
    givenMessage([], inGeneral)
      .when({ type: "post", data: { roomId, body: "hi" }, meta: meta("mick", "none") })
      .thenThrows(ForbiddenError);
  });
});

describe("msg.edit", () => {
  test("the author edits; the previous body is kept in the event", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "edit", data: { roomId, messageId: m1, body: "hello!" }, meta: meta("tess") })
      .then([
        {
          type: "MessageEdited",
          data: { roomId, messageId: m1, body: "hello!", previousBody: "hello", editedBy: tess },
        },
      ]);
  });

  test("an edit to the same body is a no-op", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "edit", data: { roomId, messageId: m1, body: "hello" }, meta: meta("tess") })
      .thenNothing();
  });

  test.each([
    ["a member", "mick", "user"],
    ["a moderator", "mona", "user"],
    ["an owner", "owen", "user"],
    ["an admin", "owen", "admin"],
  ] as const)("%s does not edit someone else's message", (_, who, privilege) => {
    givenMessage([posted], inGeneral)
      .when({ type: "edit", data: { roomId, messageId: m1, body: "changed" }, meta: meta(who, privilege) })
      .thenThrows(ForbiddenError);
  });

  test("a deleted message is not edited", () => {
    givenMessage([posted, deleted], inGeneral)
      .when({ type: "edit", data: { roomId, messageId: m1, body: "back" }, meta: meta("tess") })
      .thenThrows(InvalidError);
  });

  test("a message that does not exist, or is in another room, is not found", () => {
    givenMessage([], inGeneral)
      .when({ type: "edit", data: { roomId, messageId: m1, body: "x" }, meta: meta("tess") })
      .thenThrows(NotFoundError);
    givenMessage([messagePosted("r2", "m1", "tess")], inGeneral)
      .when({ type: "edit", data: { roomId, messageId: m1, body: "x" }, meta: meta("tess") })
      .thenThrows(NotFoundError);
  });

  test("no edits in an archived room", () => {
    givenMessage([posted], { room: [general, archived] })
      .when({ type: "edit", data: { roomId, messageId: m1, body: "x" }, meta: meta("tess") })
      .thenThrows(ForbiddenError);
  });

  test("an author who left the room edits no more", () => {
    givenMessage([posted], { room: [general, tessLeft] })
      .when({ type: "edit", data: { roomId, messageId: m1, body: "x" }, meta: meta("tess") })
      .thenThrows(ForbiddenError);
  });
});

describe("msg.delete", () => {
  const deletedBy = (who: string, reason?: string): MessageEvent[] => [
    {
      type: "MessageDeleted",
      data: { roomId, messageId: m1, deletedBy: user(who), ...(reason === undefined ? {} : { reason }) },
    },
  ];

  test("the author deletes, with a reason", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1, reason: "typo" }, meta: meta("tess") })
      .then(deletedBy("tess", "typo"));
  });

  test.each([
    ["a moderator", "mona"],
    ["an owner", "owen"],
  ])("%s deletes someone else's message", (_, who) => {
    givenMessage([posted], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta(who) })
      .then(deletedBy(who));
  });

  test("an admin deletes without being a member", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("otto", "admin") })
      .then(deletedBy("otto"));
  });

  test("an admin deletes in an archived room", () => {
    givenMessage([posted], { room: [general, archived] })
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("otto", "admin") })
      .then(deletedBy("otto"));
  });

  test("a member does not delete someone else's message", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("a non-member does not delete", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("otto") })
      .thenThrows(ForbiddenError);
  });

  test("an author who left still deletes their own message", () => {
    givenMessage([posted], { room: [general, tessLeft] })
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("tess") })
      .then(deletedBy("tess"));
  });

  test("deleting twice is a no-op", () => {
    givenMessage([posted, deleted], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("mona") })
      .thenNothing();
  });

  test("a message that does not exist is not found", () => {
    givenMessage([], inGeneral)
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("mona") })
      .thenThrows(NotFoundError);
    givenMessage([posted], { room: [] })
      .when({ type: "delete", data: { roomId, messageId: m1 }, meta: meta("tess") })
      .thenThrows(NotFoundError);
  });

  test("deletion clears the body and the reactions", () => {
    const state = messageFrom([posted, reacted("mick"), deleted]);
    expect(state).toMatchObject({ deleted: true, body: "" });
    expect(state.reactions.size).toBe(0);
  });
});

describe("msg.react", () => {
  test("a member reacts", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .then([reacted("mick")]);
  });

  test("reacting twice with the same emoji is a no-op, not an error", () => {
    givenMessage([posted, reacted("mick")], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .thenNothing();
  });

  test("another emoji, or another member with the same emoji, is a new reaction", () => {
    givenMessage([posted, reacted("mick")], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: ":tada:" }, meta: meta("mick") })
      .then([reacted("mick", ":tada:")]);
    givenMessage([posted, reacted("mick")], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mona") })
      .then([reacted("mona")]);
  });

  test("a non-member does not react", () => {
    givenMessage([posted], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
  });

  test("a deleted message takes no reactions", () => {
    givenMessage([posted, deleted], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .thenThrows(InvalidError);
  });

  test("no reactions in an archived room", () => {
    givenMessage([posted], { room: [general, archived] })
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("a message that does not exist takes no reactions", () => {
    givenMessage([], inGeneral)
      .when({ type: "react", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .thenThrows(NotFoundError);
  });
});

describe("msg.unreact", () => {
  const removed: MessageEvent = { type: "ReactionRemoved", data: { roomId, messageId: m1, emoji: "👍", userId: mick } };

  test("a member takes their reaction back", () => {
    givenMessage([posted, reacted("mick")], inGeneral)
      .when({ type: "unreact", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .then([removed]);
  });

  test("removing an absent reaction is a no-op", () => {
    givenMessage([posted, reacted("mona")], inGeneral)
      .when({ type: "unreact", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .thenNothing();
  });

  test("the last reaction of an emoji removes the emoji", () => {
    const state = messageFrom([posted, reacted("mick"), reacted("mona"), removed]);
    expect([...(state.reactions.get("👍") ?? [])]).toEqual([mona]);
    expect(messageFrom([posted, reacted("mick"), removed]).reactions.has("👍")).toBe(false);
  });

  test("a member who left takes no reaction back", () => {
    givenMessage([posted, reacted("tess")], { room: [general, tessLeft] })
      .when({ type: "unreact", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("tess") })
      .thenThrows(ForbiddenError);
  });

  test("no changes in an archived room", () => {
    givenMessage([posted, reacted("mick")], { room: [general, archived] })
      .when({ type: "unreact", data: { roomId, messageId: m1, emoji: "👍" }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });
});

describe("evolve", () => {
  test("folds a post, an edit and a translation", () => {
    const state = messageFrom([
      messagePosted("r1", "m2", "tess", "re", "m1"),
      {
        type: "MessageEdited",
        data: { roomId, messageId: msg("m2"), body: "re!", previousBody: "re", editedBy: tess },
      },
      { type: "MessageTranslated", data: { roomId, messageId: msg("m2"), language: "de", body: "betr." } },
    ]);
    expect(state).toMatchObject({
      exists: true,
      roomId,
      messageId: msg("m2"),
      authorId: tess,
      body: "re!",
      threadRootId: m1,
      deleted: false,
    });
  });
});

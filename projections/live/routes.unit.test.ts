import { describe, expect, test } from "vitest";
import {
  evolveRoom,
  initialRoomState,
  StreamSeq,
  type DomainEvent,
  type RoomEvent,
  type UserId,
} from "../../domain/index.ts";
import { messagePosted, room, roomCreated, user } from "../../domain/testing/given.ts";
import { subjectOf, type EventEnvelope } from "../../streams/index.ts";
import type { RoomEntry } from "./roomCache.ts";
import { liveEventOf, routesOf } from "./routes.ts";

let seq = 0;
/** A stored event as the fan-out reads it. */
function stored(event: DomainEvent, actor = "owen"): EventEnvelope {
  seq++;
  return {
    seq: StreamSeq.parse(seq),
    subject: subjectOf(event),
    time: "2025-01-01T00:00:00.000Z",
    type: event.type,
    storedSchema: 1,
    event,
    actor,
    commandId: `c${seq}`,
    correlationId: `c${seq}`,
    causationId: `c${seq}`,
    traceparent: undefined,
    tracestate: undefined,
  };
}

/** The room entry after `events`. */
function entryOf(events: RoomEvent[]): RoomEntry {
  const state = events.reduce(evolveRoom, initialRoomState());
  return { roomId: "r1", state, nextSeq: seq + 1, lastEventSeq: seq, audience: undefined };
}

const r1 = room("r1");
const privateRoom = roomCreated("r1", "private", [
  ["owen", "owner"],
  ["mick", "member"],
  ["tess", "member"],
]);
const publicRoom = roomCreated("r1", "public", [
  ["owen", "owner"],
  ["mick", "member"],
]);
const users = (...ids: string[]): Set<UserId> => new Set(ids.map(user));

describe("routesOf", () => {
  test("a public room's events go to live.room, whoever is a member", () => {
    const routes = routesOf(stored(messagePosted("r1", "m1", "mick")), { room: entryOf([publicRoom]) });
    expect(routes).toEqual({ room: ["live.room.r1"], thread: [], mention: [], notice: [] });
  });

  test("a private room's events go to each member, and its creation is a notice to each", () => {
    const created = stored(privateRoom);
    expect(routesOf(created, { room: entryOf([privateRoom]) })).toEqual({
      room: ["deliver.owen.room.r1", "deliver.mick.room.r1", "deliver.tess.room.r1"],
      thread: [],
      mention: [],
      notice: ["deliver.owen.notice", "deliver.mick.notice", "deliver.tess.notice"],
    });
  });

  test.each(["MemberRemoved", "MemberBanned", "MemberLeft"] as const)(
    "%s: the member gets the notice and not the room's copy",
    (type) => {
      const event = {
        type,
        data: { roomId: r1, userId: user("tess"), removedBy: user("owen"), bannedBy: user("owen") },
      } as RoomEvent;
      const routes = routesOf(stored(event), { room: entryOf([privateRoom, event]) });
      expect(routes.room).toEqual(["deliver.owen.room.r1", "deliver.mick.room.r1"]);
      expect(routes.notice).toEqual(["deliver.tess.notice"]);
    },
  );

  test("an invitation is a notice only: the invited user is not a member yet", () => {
    const invited: RoomEvent = {
      type: "MemberInvited",
      data: { roomId: r1, userId: user("zoe"), invitedBy: user("owen") },
    };
    const routes = routesOf(stored(invited), { room: entryOf([privateRoom, invited]) });
    expect(routes.room).not.toContain("deliver.zoe.room.r1");
    expect(routes.notice).toEqual(["deliver.zoe.notice"]);
  });

  test("a thread reply goes to the participants who may read the room, but its author", () => {
    const reply = messagePosted("r1", "m2", "mick", "re", "m1");
    const routes = routesOf(stored(reply, "mick"), {
      room: entryOf([privateRoom]),
      threadParticipants: users("owen", "mick", "gone"),
    });
    expect(routes.thread).toEqual(["deliver.owen.thread.r1"]);
  });

  test("mentions go to those who may read the room: a post's own, an edit's from its post", () => {
    const post = messagePosted("r1", "m1", "owen");
    const mentioning = { ...post, data: { ...post.data, mentions: [user("mick"), user("zoe")] } } as DomainEvent;
    expect(routesOf(stored(mentioning), { room: entryOf([privateRoom]) }).mention).toEqual(["deliver.mick.mention.r1"]);
    const edit: DomainEvent = {
      type: "MessageEdited",
      data: { roomId: r1, messageId: post.data.messageId, body: "b", previousBody: "a", editedBy: user("owen") },
    };
    expect(
      routesOf(stored(edit), { room: entryOf([publicRoom]), mentions: [user("mick"), user("zoe")] }).mention,
    ).toEqual(["deliver.mick.mention.r1", "deliver.zoe.mention.r1"]);
  });

  test("a room that does not exist gets nothing; a profile update is a notice to its user", () => {
    expect(routesOf(stored(messagePosted("r1", "m1", "owen")), { room: entryOf([]) }).room).toEqual([]);
    const profile: DomainEvent = { type: "UserProfileUpdated", data: { userId: user("mick"), displayName: "Mick" } };
    expect(routesOf(stored(profile, "mick"), {})).toEqual({
      room: [],
      thread: [],
      mention: [],
      notice: ["deliver.mick.notice"],
    });
  });
});

test("liveEventOf: sequence, time, type, actor, ids and the payload", () => {
  const env = stored(messagePosted("r1", "m1", "mick", "hi"), "mick");
  expect(liveEventOf(env)).toEqual({
    seq: env.seq,
    time: env.time,
    type: "MessagePosted",
    actor: "mick",
    roomId: "r1",
    messageId: "m1",
    payload: { roomId: "r1", messageId: "m1", authorId: "mick", body: "hi", mentions: [] },
  });
});

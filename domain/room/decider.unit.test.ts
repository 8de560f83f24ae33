import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ConflictError, ForbiddenError, InvalidError, NatterError, NotFoundError } from "../errors.ts";
import type { Privilege } from "../metadata.ts";
import { ROOM_ROLES } from "../policy.ts";
import { givenRoom, meta, room, roomCreated, roomFrom, user } from "../testing/given.ts";
import type { RoomCommand } from "./commands.ts";
import { decideRoom, evolveRoom } from "./decider.ts";
import { ROOM_KINDS, RoomEvent } from "./events.ts";
import { initialRoomState, ownerCount, type RoomState } from "./state.ts";

const roomId = room("r1");
const owen = user("owen"); // owner
const mona = user("mona"); // moderator
const mick = user("mick"); // member
const tess = user("tess"); // member, the usual target
const otto = user("otto"); // not a member

const publicRoom = roomCreated("r1", "public", [
  ["owen", "owner"],
  ["mona", "moderator"],
  ["mick", "member"],
  ["tess", "member"],
]);
const privateRoom = roomCreated("r1", "private", [
  ["owen", "owner"],
  ["mick", "member"],
]);
const dm = roomCreated("r1", "dm", [
  ["mick", "member"],
  ["tess", "member"],
]);
const archived: RoomEvent = { type: "RoomArchived", data: { roomId, archivedBy: owen } };
const banned = (who: string): RoomEvent => ({
  type: "MemberBanned",
  data: { roomId, userId: user(who), bannedBy: mona },
});
const invited = (who: string): RoomEvent => ({
  type: "MemberInvited",
  data: { roomId, userId: user(who), invitedBy: mick },
});
const promoted = (who: string, role: "owner" | "moderator"): RoomEvent => ({
  type: "MemberRoleChanged",
  data: { roomId, userId: user(who), role, previousRole: "member", changedBy: owen },
});

describe("room.create", () => {
  test("a public room: the creator is its owner, the id comes from the command id", () => {
    givenRoom([])
      .when({ type: "create", data: { name: "  Team   chat ", kind: "public" }, meta: meta("owen", "user", "01JCMD") })
      .then([
        {
          type: "RoomCreated",
          data: {
            roomId: room("01JCMD"),
            name: "Team chat",
            kind: "public",
            topic: "",
            createdBy: owen,
            members: [{ userId: owen, role: "owner" }],
          },
        },
      ]);
  });

  test("a given roomId and topic are kept", () => {
    givenRoom([])
      .when({
        type: "create",
        data: { name: "General", kind: "public", roomId, topic: "hello" },
        meta: meta("owen", "admin", "01JCMD"),
      })
      .then([
        {
          type: "RoomCreated",
          data: {
            roomId,
            name: "General",
            kind: "public",
            topic: "hello",
            createdBy: owen,
            members: [{ userId: owen, role: "owner" }],
          },
        },
      ]);
  });

  test("a private room: the creator owns it, the other members join as members, once each", () => {
    givenRoom([])
      .when({
        type: "create",
        data: { name: "Secret", kind: "private", roomId, members: [mick, owen, tess, mick] },
        meta: meta("owen"),
      })
      .then([
        {
          type: "RoomCreated",
          data: {
            roomId,
            name: "Secret",
            kind: "private",
            topic: "",
            createdBy: owen,
            members: [
              { userId: owen, role: "owner" },
              { userId: mick, role: "member" },
              { userId: tess, role: "member" },
            ],
          },
        },
      ]);
  });

  test("a DM has exactly its two members, neither of them owner", () => {
    givenRoom([])
      .when({
        type: "create",
        data: { name: "mick and tess", kind: "dm", roomId, members: [tess, mick] },
        meta: meta("mick"),
      })
      .then([
        {
          type: "RoomCreated",
          data: {
            roomId,
            name: "mick and tess",
            kind: "dm",
            topic: "",
            createdBy: mick,
            members: [
              { userId: mick, role: "member" },
              { userId: tess, role: "member" },
            ],
          },
        },
      ]);
  });

  test.each([
    ["no one else", []],
    ["only the creator", ["mick"]],
    ["two others", ["tess", "otto"]],
  ])("a DM with %s is refused", (_, members) => {
    givenRoom([])
      .when({
        type: "create",
        data: { name: "dm", kind: "dm", roomId, members: members.map(user) },
        meta: meta("mick"),
      })
      .thenThrows(InvalidError);
  });

  test("a DM without a member list is refused", () => {
    givenRoom([])
      .when({ type: "create", data: { name: "dm", kind: "dm", roomId }, meta: meta("mick") })
      .thenThrows(InvalidError);
  });

  test("a room that exists already is not created again", () => {
    givenRoom([publicRoom])
      .when({ type: "create", data: { name: "Again", kind: "public", roomId }, meta: meta("otto") })
      .thenThrows(ConflictError);
  });

  test("a user without a realm role creates no room", () => {
    givenRoom([])
      .when({ type: "create", data: { name: "Mine", kind: "public" }, meta: meta("otto", "none") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.join", () => {
  test("anyone with the user role joins a public room", () => {
    givenRoom([publicRoom])
      .when({ type: "join", data: { roomId }, meta: meta("otto") })
      .then([{ type: "MemberJoined", data: { roomId, userId: otto } }]);
  });

  test("joining twice is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "join", data: { roomId }, meta: meta("mick") })
      .thenNothing();
  });

  test("a private room is not joined without an invitation: to an outsider it does not exist", () => {
    givenRoom([privateRoom])
      .when({ type: "join", data: { roomId }, meta: meta("otto") })
      .thenThrows(NotFoundError);
  });

  test.each(["join", "leave", "rename", "archive"] as const)(
    "to an outsider a private room or DM answers %s as a room that does not exist (no refusal, no no-op's sequence)",
    (type) => {
      const data = type === "rename" ? { roomId, name: "x" } : { roomId };
      for (const room of [privateRoom, dm]) {
        givenRoom([room])
          .when({ type, data, meta: meta("otto") } as never)
          .thenThrows(NotFoundError);
        givenRoom([])
          .when({ type, data, meta: meta("otto") } as never)
          .thenThrows(NotFoundError);
      }
      // An invited user may know of it.
      if (type === "join")
        givenRoom([privateRoom, invited("otto")])
          .when({ type, data, meta: meta("otto") } as never)
          .then([{ type: "MemberJoined", data: { roomId, userId: otto } }]);
    },
  );

  test("a private room is joined by invitation", () => {
    givenRoom([privateRoom, invited("otto")])
      .when({ type: "join", data: { roomId }, meta: meta("otto") })
      .then([{ type: "MemberJoined", data: { roomId, userId: otto } }]);
  });

  test("an invitation is used up by joining", () => {
    const state = roomFrom([privateRoom, invited("otto"), { type: "MemberJoined", data: { roomId, userId: otto } }]);
    expect(state.invited.has(otto)).toBe(false);
    expect(state.members.get(otto)).toBe("member");
  });

  test("an admin joins a private room without an invitation", () => {
    givenRoom([privateRoom])
      .when({ type: "join", data: { roomId }, meta: meta("otto", "admin") })
      .then([{ type: "MemberJoined", data: { roomId, userId: otto } }]);
  });

  test("no one joins a DM, not even with admin privilege (to a user it does not exist)", () => {
    givenRoom([dm])
      .when({ type: "join", data: { roomId }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
    givenRoom([dm])
      .when({ type: "join", data: { roomId }, meta: meta("otto", "user") })
      .thenThrows(NotFoundError);
  });

  test("a banned user cannot rejoin", () => {
    givenRoom([publicRoom, banned("tess")])
      .when({ type: "join", data: { roomId }, meta: meta("tess") })
      .thenThrows(ForbiddenError);
  });

  test("a banned user cannot rejoin a private room with an old invitation either", () => {
    // The ban took the invitation away, so to otto the room is as hidden as to anyone outside it.
    givenRoom([privateRoom, invited("otto"), banned("otto")])
      .when({ type: "join", data: { roomId }, meta: meta("otto") })
      .thenThrows(NotFoundError);
  });

  test("an unbanned user rejoins", () => {
    givenRoom([
      publicRoom,
      banned("tess"),
      { type: "MemberUnbanned", data: { roomId, userId: tess, unbannedBy: mona } },
    ])
      .when({ type: "join", data: { roomId }, meta: meta("tess") })
      .then([{ type: "MemberJoined", data: { roomId, userId: tess } }]);
  });

  test("an archived room is not joined", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "join", data: { roomId }, meta: meta("otto") })
      .thenThrows(ForbiddenError);
  });

  test("a user without a realm role joins nothing", () => {
    givenRoom([publicRoom])
      .when({ type: "join", data: { roomId }, meta: meta("otto", "none") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.leave", () => {
  test("a member leaves", () => {
    givenRoom([publicRoom])
      .when({ type: "leave", data: { roomId }, meta: meta("mick") })
      .then([{ type: "MemberLeft", data: { roomId, userId: mick } }]);
  });

  test("leaving a room one is not in is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "leave", data: { roomId }, meta: meta("otto") })
      .thenNothing();
  });

  test("the last owner cannot leave while others remain", () => {
    givenRoom([publicRoom])
      .when({ type: "leave", data: { roomId }, meta: meta("owen") })
      .thenThrows(ConflictError);
  });

  test("the last owner cannot leave even as an admin", () => {
    givenRoom([publicRoom])
      .when({ type: "leave", data: { roomId }, meta: meta("owen", "admin") })
      .thenThrows(ConflictError);
  });

  test("an owner leaves once ownership is handed over", () => {
    givenRoom([publicRoom, promoted("mona", "owner")])
      .when({ type: "leave", data: { roomId }, meta: meta("owen") })
      .then([{ type: "MemberLeft", data: { roomId, userId: owen } }]);
  });

  test("the last owner leaves when alone", () => {
    givenRoom([roomCreated("r1", "public", [["owen", "owner"]])])
      .when({ type: "leave", data: { roomId }, meta: meta("owen") })
      .then([{ type: "MemberLeft", data: { roomId, userId: owen } }]);
  });

  test("the first to join a room its last owner left becomes its owner", () => {
    const alone = roomCreated("r1", "public", [["owen", "owner"]]);
    const left = { type: "MemberLeft" as const, data: { roomId, userId: owen } };
    givenRoom([alone, left])
      .when({ type: "join", data: { roomId }, meta: meta("mick") })
      .then([{ type: "MemberJoined", data: { roomId, userId: user("mick"), role: "owner" } }]);
  });

  test("no one leaves a DM", () => {
    givenRoom([dm])
      .when({ type: "leave", data: { roomId }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("members still leave an archived room", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "leave", data: { roomId }, meta: meta("mick") })
      .then([{ type: "MemberLeft", data: { roomId, userId: mick } }]);
  });

  test("a user without a realm role cannot leave (they have no command subject for it)", () => {
    givenRoom([publicRoom])
      .when({ type: "leave", data: { roomId }, meta: meta("mick", "none") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.invite", () => {
  test("a member invites someone, with a reason", () => {
    givenRoom([privateRoom])
      .when({ type: "invite", data: { roomId, userId: otto, reason: "welcome" }, meta: meta("mick") })
      .then([{ type: "MemberInvited", data: { roomId, userId: otto, invitedBy: mick, reason: "welcome" } }]);
  });

  test("a non-member does not invite", () => {
    givenRoom([publicRoom])
      .when({ type: "invite", data: { roomId, userId: user("zoe") }, meta: meta("otto") })
      .thenThrows(ForbiddenError);
  });

  test("an admin invites without being a member", () => {
    givenRoom([privateRoom])
      .when({ type: "invite", data: { roomId, userId: tess }, meta: meta("otto", "admin") })
      .then([{ type: "MemberInvited", data: { roomId, userId: tess, invitedBy: otto } }]);
  });

  test("inviting a member or an invited user again is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "invite", data: { roomId, userId: tess }, meta: meta("mick") })
      .thenNothing();
    givenRoom([privateRoom, invited("otto")])
      .when({ type: "invite", data: { roomId, userId: otto }, meta: meta("owen") })
      .thenNothing();
  });

  test("a banned user is not invited until unbanned", () => {
    givenRoom([privateRoom, banned("otto")])
      .when({ type: "invite", data: { roomId, userId: otto }, meta: meta("owen") })
      .thenThrows(ForbiddenError);
  });

  test("no one is invited to a DM", () => {
    givenRoom([dm])
      .when({ type: "invite", data: { roomId, userId: otto }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("no one is invited to an archived room", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "invite", data: { roomId, userId: otto }, meta: meta("owen") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.remove", () => {
  test("a moderator removes a member", () => {
    givenRoom([publicRoom])
      .when({ type: "remove", data: { roomId, userId: tess, reason: "spam" }, meta: meta("mona") })
      .then([{ type: "MemberRemoved", data: { roomId, userId: tess, removedBy: mona, reason: "spam" } }]);
  });

  test("a member removes no one", () => {
    givenRoom([publicRoom])
      .when({ type: "remove", data: { roomId, userId: tess }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("a moderator does not remove another moderator or an owner", () => {
    givenRoom([publicRoom, promoted("tess", "moderator")])
      .when({ type: "remove", data: { roomId, userId: tess }, meta: meta("mona") })
      .thenThrows(ForbiddenError);
    givenRoom([publicRoom, promoted("tess", "owner")])
      .when({ type: "remove", data: { roomId, userId: owen }, meta: meta("mona") })
      .thenThrows(ForbiddenError);
  });

  test("an owner removes another owner", () => {
    givenRoom([publicRoom, promoted("tess", "owner")])
      .when({ type: "remove", data: { roomId, userId: tess }, meta: meta("owen") })
      .then([{ type: "MemberRemoved", data: { roomId, userId: tess, removedBy: owen } }]);
  });

  test("a moderator removes themselves", () => {
    givenRoom([publicRoom])
      .when({ type: "remove", data: { roomId, userId: mona }, meta: meta("mona") })
      .then([{ type: "MemberRemoved", data: { roomId, userId: mona, removedBy: mona } }]);
  });

  test("the last owner is not removed, not even by an admin", () => {
    givenRoom([publicRoom])
      .when({ type: "remove", data: { roomId, userId: owen }, meta: meta("otto", "admin") })
      .thenThrows(ConflictError);
  });

  test("removing a non-member is refused as not found", () => {
    givenRoom([publicRoom])
      .when({ type: "remove", data: { roomId, userId: otto }, meta: meta("owen") })
      .thenThrows(NotFoundError);
  });

  test("removing an invited user withdraws the invitation", () => {
    givenRoom([privateRoom, invited("otto")])
      .when({ type: "remove", data: { roomId, userId: otto }, meta: meta("owen") })
      .then([{ type: "MemberRemoved", data: { roomId, userId: otto, removedBy: owen } }]);
    expect(
      roomFrom([
        privateRoom,
        invited("otto"),
        { type: "MemberRemoved", data: { roomId, userId: otto, removedBy: owen } },
      ]).invited.has(otto),
    ).toBe(false);
  });

  test("no one is removed from a DM, not even by an admin", () => {
    givenRoom([dm])
      .when({ type: "remove", data: { roomId, userId: tess }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
  });

  test("no one is removed from an archived room", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "remove", data: { roomId, userId: tess }, meta: meta("owen") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.ban", () => {
  test("a moderator bans a member, who is no longer a member", () => {
    const event: RoomEvent = { type: "MemberBanned", data: { roomId, userId: tess, bannedBy: mona, reason: "abuse" } };
    givenRoom([publicRoom])
      .when({ type: "ban", data: { roomId, userId: tess, reason: "abuse" }, meta: meta("mona") })
      .then([event]);
    const state = roomFrom([publicRoom, event]);
    expect(state.members.has(tess)).toBe(false);
    expect(state.banned.has(tess)).toBe(true);
  });

  test("a moderator bans a non-member before they join", () => {
    givenRoom([publicRoom])
      .when({ type: "ban", data: { roomId, userId: otto }, meta: meta("mona") })
      .then([{ type: "MemberBanned", data: { roomId, userId: otto, bannedBy: mona } }]);
  });

  test("banning twice is a no-op", () => {
    givenRoom([publicRoom, banned("tess")])
      .when({ type: "ban", data: { roomId, userId: tess }, meta: meta("owen") })
      .thenNothing();
  });

  test("no one bans themselves", () => {
    givenRoom([publicRoom])
      .when({ type: "ban", data: { roomId, userId: mona }, meta: meta("mona") })
      .thenThrows(InvalidError);
  });

  test("a member bans no one", () => {
    givenRoom([publicRoom])
      .when({ type: "ban", data: { roomId, userId: tess }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("a moderator does not ban an owner", () => {
    givenRoom([publicRoom])
      .when({ type: "ban", data: { roomId, userId: owen }, meta: meta("mona") })
      .thenThrows(ForbiddenError);
  });

  test("the last owner is not banned, not even by an admin", () => {
    givenRoom([publicRoom])
      .when({ type: "ban", data: { roomId, userId: owen }, meta: meta("otto", "admin") })
      .thenThrows(ConflictError);
  });

  test("no one is banned from a DM", () => {
    givenRoom([dm])
      .when({ type: "ban", data: { roomId, userId: tess }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.unban", () => {
  test("a moderator unbans", () => {
    givenRoom([publicRoom, banned("tess")])
      .when({ type: "unban", data: { roomId, userId: tess }, meta: meta("mona") })
      .then([{ type: "MemberUnbanned", data: { roomId, userId: tess, unbannedBy: mona } }]);
  });

  test("unbanning someone not banned is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "unban", data: { roomId, userId: otto }, meta: meta("mona") })
      .thenNothing();
  });

  test("a member unbans no one", () => {
    givenRoom([publicRoom, banned("tess")])
      .when({ type: "unban", data: { roomId, userId: tess }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("unbanning does not make a member", () => {
    const state = roomFrom([
      publicRoom,
      banned("tess"),
      { type: "MemberUnbanned", data: { roomId, userId: tess, unbannedBy: mona } },
    ]);
    expect(state.banned.has(tess)).toBe(false);
    expect(state.members.has(tess)).toBe(false);
  });
});

describe("room.rename", () => {
  test("a moderator renames, the previous name is kept in the event", () => {
    givenRoom([publicRoom])
      .when({ type: "rename", data: { roomId, name: " Town   square " }, meta: meta("mona") })
      .then([{ type: "RoomRenamed", data: { roomId, name: "Town square", previousName: "General" } }]);
  });

  test("renaming to the same name is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "rename", data: { roomId, name: "General " }, meta: meta("owen") })
      .thenNothing();
  });

  test("a member does not rename", () => {
    givenRoom([publicRoom])
      .when({ type: "rename", data: { roomId, name: "Mine" }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("a DM is not renamed", () => {
    givenRoom([dm])
      .when({ type: "rename", data: { roomId, name: "Ours" }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("an archived room is not renamed", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "rename", data: { roomId, name: "Old" }, meta: meta("owen") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.topic", () => {
  test("a moderator sets the topic", () => {
    givenRoom([publicRoom])
      .when({ type: "topic", data: { roomId, topic: "Lunch plans" }, meta: meta("mona") })
      .then([{ type: "RoomTopicChanged", data: { roomId, topic: "Lunch plans", previousTopic: "" } }]);
  });

  test("the same topic is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "topic", data: { roomId, topic: "" }, meta: meta("owen") })
      .thenNothing();
  });

  test("a member of a room does not set its topic", () => {
    givenRoom([publicRoom])
      .when({ type: "topic", data: { roomId, topic: "Mine" }, meta: meta("mick") })
      .thenThrows(ForbiddenError);
  });

  test("either member of a DM sets its topic", () => {
    givenRoom([dm])
      .when({ type: "topic", data: { roomId, topic: "Plans" }, meta: meta("tess") })
      .then([{ type: "RoomTopicChanged", data: { roomId, topic: "Plans", previousTopic: "" } }]);
  });

  test("no one outside a DM sets its topic, not even an admin", () => {
    givenRoom([dm])
      .when({ type: "topic", data: { roomId, topic: "Plans" }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
  });

  test("an archived room's topic stays", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "topic", data: { roomId, topic: "Closed" }, meta: meta("owen") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.role", () => {
  test("an owner makes a member moderator", () => {
    givenRoom([publicRoom])
      .when({ type: "role", data: { roomId, userId: tess, role: "moderator" }, meta: meta("owen") })
      .then([
        {
          type: "MemberRoleChanged",
          data: { roomId, userId: tess, role: "moderator", previousRole: "member", changedBy: owen },
        },
      ]);
  });

  test("the same role again is a no-op", () => {
    givenRoom([publicRoom])
      .when({ type: "role", data: { roomId, userId: mona, role: "moderator" }, meta: meta("owen") })
      .thenNothing();
  });

  test("a moderator changes no roles", () => {
    givenRoom([publicRoom])
      .when({ type: "role", data: { roomId, userId: tess, role: "moderator" }, meta: meta("mona") })
      .thenThrows(ForbiddenError);
  });

  test("an admin changes roles without being a member", () => {
    givenRoom([publicRoom])
      .when({ type: "role", data: { roomId, userId: tess, role: "owner" }, meta: meta("otto", "admin") })
      .then([
        {
          type: "MemberRoleChanged",
          data: { roomId, userId: tess, role: "owner", previousRole: "member", changedBy: otto },
        },
      ]);
  });

  test("a non-member gets no role", () => {
    givenRoom([publicRoom])
      .when({ type: "role", data: { roomId, userId: otto, role: "moderator" }, meta: meta("owen") })
      .thenThrows(NotFoundError);
  });

  test("the last owner is not demoted, not even by themselves", () => {
    givenRoom([publicRoom])
      .when({ type: "role", data: { roomId, userId: owen, role: "member" }, meta: meta("owen") })
      .thenThrows(ConflictError);
  });

  test("an owner steps down once there is another owner", () => {
    givenRoom([publicRoom, promoted("mona", "owner")])
      .when({ type: "role", data: { roomId, userId: owen, role: "moderator" }, meta: meta("owen") })
      .then([
        {
          type: "MemberRoleChanged",
          data: { roomId, userId: owen, role: "moderator", previousRole: "owner", changedBy: owen },
        },
      ]);
  });

  test("a DM has no roles to change", () => {
    givenRoom([dm])
      .when({ type: "role", data: { roomId, userId: tess, role: "owner" }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
  });

  test("an archived room's roles stay", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "role", data: { roomId, userId: tess, role: "moderator" }, meta: meta("owen") })
      .thenThrows(ForbiddenError);
  });
});

describe("room.archive", () => {
  test("an owner archives", () => {
    givenRoom([publicRoom])
      .when({ type: "archive", data: { roomId }, meta: meta("owen") })
      .then([{ type: "RoomArchived", data: { roomId, archivedBy: owen } }]);
  });

  test("an admin archives", () => {
    givenRoom([publicRoom])
      .when({ type: "archive", data: { roomId }, meta: meta("otto", "admin") })
      .then([{ type: "RoomArchived", data: { roomId, archivedBy: otto } }]);
  });

  test("archiving twice is a no-op", () => {
    givenRoom([publicRoom, archived])
      .when({ type: "archive", data: { roomId }, meta: meta("owen") })
      .thenNothing();
  });

  test("a moderator does not archive", () => {
    givenRoom([publicRoom])
      .when({ type: "archive", data: { roomId }, meta: meta("mona") })
      .thenThrows(ForbiddenError);
  });

  test("a DM is not archived", () => {
    givenRoom([dm])
      .when({ type: "archive", data: { roomId }, meta: meta("otto", "admin") })
      .thenThrows(ForbiddenError);
  });
});

describe("a room that does not exist", () => {
  const commands: RoomCommand[] = [
    { type: "join", data: { roomId }, meta: meta("otto") },
    { type: "leave", data: { roomId }, meta: meta("otto") },
    { type: "invite", data: { roomId, userId: tess }, meta: meta("otto") },
    { type: "remove", data: { roomId, userId: tess }, meta: meta("otto", "admin") },
    { type: "ban", data: { roomId, userId: tess }, meta: meta("otto", "admin") },
    { type: "unban", data: { roomId, userId: tess }, meta: meta("otto", "admin") },
    { type: "rename", data: { roomId, name: "x" }, meta: meta("otto", "admin") },
    { type: "topic", data: { roomId, topic: "x" }, meta: meta("otto", "admin") },
    { type: "role", data: { roomId, userId: tess, role: "owner" }, meta: meta("otto", "admin") },
    { type: "archive", data: { roomId }, meta: meta("otto", "admin") },
  ];
  test.each(commands.map((c) => [c.type, c] as const))("refuses %s as not found", (_, command) => {
    givenRoom([]).when(command).thenThrows(NotFoundError);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: any sequence of room commands, folded with decide + evolve, keeps the invariants.

const people = ["u0", "u1", "u2", "u3"].map(user);
const someone = fc.constantFrom(...people);
const privilege = fc.constantFrom<Privilege>("user", "user", "user", "admin", "none");

const arbitraryCommand: fc.Arbitrary<RoomCommand> = fc
  .tuple(
    someone,
    privilege,
    someone,
    // Weighted by repetition: archiving ends most histories, so it comes up rarely.
    fc.constantFrom(
      ...(["join", "join", "join", "leave", "leave", "invite", "invite", "role", "role", "role"] as const),
      "remove",
      "ban",
      "unban",
      "unban",
      "rename",
      "topic",
      "archive",
      "create",
    ),
    fc.constantFrom(...ROOM_ROLES),
    fc.constantFrom(...ROOM_KINDS),
    fc.subarray(people),
  )
  .map(([actor, priv, target, action, role, kind, members]): RoomCommand => {
    const m = meta(actor, priv, "cmd-x");
    switch (action) {
      case "create":
        return { type: "create", data: { name: "r", kind, roomId, members }, meta: m };
      case "join":
      case "leave":
      case "archive":
        return { type: action, data: { roomId }, meta: m };
      case "invite":
      case "remove":
      case "ban":
      case "unban":
        return { type: action, data: { roomId, userId: target }, meta: m };
      case "rename":
        return { type: "rename", data: { roomId, name: target }, meta: m };
      case "topic":
        return { type: "topic", data: { roomId, topic: target }, meta: m };
      case "role":
        return { type: "role", data: { roomId, userId: target, role }, meta: m };
    }
  });

/** A room is created first (by a user, of any kind), then anything happens. */
const arbitraryHistory = fc.tuple(
  fc.constantFrom(...ROOM_KINDS).chain((kind) =>
    fc
      .tuple(someone, fc.subarray(people, { minLength: kind === "dm" ? 1 : 0 }))
      .map(([actor, members]): RoomCommand => ({
        type: "create",
        data: { name: "r", kind, roomId, members },
        meta: meta(actor, "user", "cmd-0"),
      })),
  ),
  fc.array(arbitraryCommand, { minLength: 5, maxLength: 60, size: "max" }),
);

function checkInvariants(before: { owners: number; archived: boolean }, events: RoomEvent[], state: RoomState): void {
  if (state.exists && state.kind === "dm") expect(state.members.size).toBe(2);
  for (const u of state.members.keys()) expect(state.banned.has(u), `${u} is both member and banned`).toBe(false);
  if (before.owners > 0 && state.kind !== "dm" && state.members.size > 0) expect(ownerCount(state)).toBeGreaterThan(0);
  if (state.kind === "dm") expect(ownerCount(state)).toBe(0);
  if (before.archived) for (const e of events) expect(e.type).toBe("MemberLeft");
  expect(events.length).toBeLessThanOrEqual(1);
}

describe("room invariants (property)", () => {
  test("hold after every step of any history", () => {
    let decided = 0;
    const seen = new Set<RoomEvent["type"]>();
    fc.assert(
      fc.property(arbitraryHistory, ([create, rest]) => {
        const state = initialRoomState();
        for (const command of [create, ...rest]) {
          const before = { owners: ownerCount(state), archived: state.archived };
          let events: RoomEvent[] = [];
          try {
            events = decideRoom(command, state);
          } catch (e) {
            expect(e).toBeInstanceOf(NatterError);
          }
          for (const event of events) {
            RoomEvent.parse(event);
            seen.add(event.type);
            evolveRoom(state, event);
          }
          decided += events.length;
          checkInvariants(before, events, state);
        }
      }),
      { numRuns: 300 },
    );
    // The histories must actually do things, or the property says nothing.
    expect(decided).toBeGreaterThan(1000);
    expect([...seen].sort()).toEqual(RoomEvent.options.map((o) => o.shape.type.value).sort());
  });
});

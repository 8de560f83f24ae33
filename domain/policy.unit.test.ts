import { describe, expect, test } from "vitest";
import { COMMANDS } from "./commands.ts";
import { ConflictError, ForbiddenError, NatterError } from "./errors.ts";
import type { DomainEvent } from "./events.ts";
import type { Privilege } from "./metadata.ts";
import type { MessageCommand } from "./message/commands.ts";
import { decideMessage } from "./message/decider.ts";
import type { MessageEvent } from "./message/events.ts";
import { moderates, outranks, rankOf } from "./policy.ts";
import type { RoomCommand } from "./room/commands.ts";
import { decideRoom } from "./room/decider.ts";
import type { RoomEvent } from "./room/events.ts";
import { initialRoomState } from "./room/state.ts";
import { messageFrom, messagePosted, meta, msg, room, roomCreated, roomFrom, user } from "./testing/given.ts";
import type { UserCommand } from "./user/commands.ts";
import { decideUser } from "./user/decider.ts";
import { initialUserState } from "./user/state.ts";

// The permission table: every command × realm privilege × the actor's room role.
//
// The room: public, owned by owen alone, mona moderates, mick and tess are members, bree is banned.
// The actor is owen (owner), mona (moderator), mick (member) or otto (not a member).
// Targets: tess (remove, ban, role → moderator), bree (unban), gwen, a stranger (invite).
// The message m1 is tess's (never the actor's), with a 👍 from each possible actor; react adds 🎉,
// unreact takes the 👍 back. create makes another room; profile is the actor's own. `service` is
// natter's own service acting for the actor (svccmd.): it may set a profile and record the identity
// name, nothing else; no user may record an identity name.
//
// ok: exactly one event (of the action's type); noop: accepted, no event; else: the error class.

const ok = "ok";
const noop = "noop";
const F = ForbiddenError;
const C = ConflictError;
type Expected = typeof ok | typeof noop | typeof ForbiddenError | typeof ConflictError;
type Row = readonly [owner: Expected, moderator: Expected, member: Expected, nonMember: Expected];

// prettier-ignore
const TABLE: Record<string, Record<Privilege, Row>> = {
  //                      owner  moderator member  non-member
  "room.create":  { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   ok,   ok  ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.join":    { admin: [noop, noop, noop, ok  ], user: [noop, noop, noop, ok  ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.leave":   { admin: [C,    ok,   ok,   noop], user: [C,    ok,   ok,   noop], none: [F, F, F, F], service: [F, F, F, F] },
  "room.invite":  { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   ok,   F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.remove":  { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.ban":     { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.unban":   { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.rename":  { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.topic":   { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.role":    { admin: [ok,   ok,   ok,   ok  ], user: [ok,   F,    F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "room.archive": { admin: [ok,   ok,   ok,   ok  ], user: [ok,   F,    F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "msg.post":     { admin: [ok,   ok,   ok,   F   ], user: [ok,   ok,   ok,   F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "msg.edit":     { admin: [F,    F,    F,    F   ], user: [F,    F,    F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "msg.delete":   { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   F,    F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "msg.react":    { admin: [ok,   ok,   ok,   F   ], user: [ok,   ok,   ok,   F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "msg.unreact":  { admin: [ok,   ok,   ok,   F   ], user: [ok,   ok,   ok,   F   ], none: [F, F, F, F], service: [F, F, F, F] },
  "user.profile": { admin: [ok,   ok,   ok,   ok  ], user: [ok,   ok,   ok,   ok  ], none: [ok, ok, ok, ok], service: [ok, ok, ok, ok] },
  "user.identity":{ admin: [F,    F,    F,    F   ], user: [F,    F,    F,    F   ], none: [F, F, F, F], service: [ok, ok, ok, ok] },
};

/** The event an allowed command appends. */
const EVENT_OF: Record<string, DomainEvent["type"]> = {
  "room.create": "RoomCreated",
  "room.join": "MemberJoined",
  "room.leave": "MemberLeft",
  "room.invite": "MemberInvited",
  "room.remove": "MemberRemoved",
  "room.ban": "MemberBanned",
  "room.unban": "MemberUnbanned",
  "room.rename": "RoomRenamed",
  "room.topic": "RoomTopicChanged",
  "room.role": "MemberRoleChanged",
  "room.archive": "RoomArchived",
  "msg.post": "MessagePosted",
  "msg.edit": "MessageEdited",
  "msg.delete": "MessageDeleted",
  "msg.react": "ReactionAdded",
  "msg.unreact": "ReactionRemoved",
  "user.profile": "UserProfileUpdated",
  "user.identity": "UserProfileUpdated",
};

const ROLES = ["owner", "moderator", "member", "non-member"] as const;
type Role = (typeof ROLES)[number];
const ACTOR: Record<Role, string> = { owner: "owen", moderator: "mona", member: "mick", "non-member": "otto" };

const roomId = room("r1");
const m1 = msg("m1");
const roomEvents: RoomEvent[] = [
  roomCreated("r1", "public", [
    ["owen", "owner"],
    ["mona", "moderator"],
    ["mick", "member"],
    ["tess", "member"],
  ]),
  { type: "MemberBanned", data: { roomId, userId: user("bree"), bannedBy: user("mona") } },
];
const messageEvents: MessageEvent[] = [
  messagePosted("r1", "m1", "tess", "hello"),
  ...Object.values(ACTOR).map((who): MessageEvent => ({
    type: "ReactionAdded",
    data: { roomId, messageId: m1, emoji: "👍", userId: user(who) },
  })),
];

type Attempt = { readonly data: unknown; readonly decide: () => DomainEvent[] };

/** The command of `action` by `actor` with `privilege`, decided against the states above. */
function attempt(action: string, actor: string, privilege: Privilege): Attempt {
  const m = meta(actor, privilege, "01JCMD");
  const inRoom = (command: RoomCommand): Attempt => ({
    data: command.data,
    decide: () => decideRoom(command, roomFrom(roomEvents)),
  });
  const onMessage = (command: MessageCommand, events = messageEvents): Attempt => ({
    data: command.data,
    decide: () => decideMessage(command, messageFrom(events), { room: roomFrom(roomEvents) }),
  });
  const profile = (command: UserCommand): Attempt => ({
    data: command.data,
    decide: () => decideUser(command, initialUserState()),
  });
  switch (action) {
    case "room.create": {
      const command: RoomCommand = {
        type: "create",
        data: { name: "New", kind: "public", roomId: room("r2") },
        meta: m,
      };
      return { data: command.data, decide: () => decideRoom(command, initialRoomState()) };
    }
    case "room.join":
      return inRoom({ type: "join", data: { roomId }, meta: m });
    case "room.leave":
      return inRoom({ type: "leave", data: { roomId }, meta: m });
    case "room.invite":
      return inRoom({ type: "invite", data: { roomId, userId: user("gwen") }, meta: m });
    case "room.remove":
      return inRoom({ type: "remove", data: { roomId, userId: user("tess") }, meta: m });
    case "room.ban":
      return inRoom({ type: "ban", data: { roomId, userId: user("tess") }, meta: m });
    case "room.unban":
      return inRoom({ type: "unban", data: { roomId, userId: user("bree") }, meta: m });
    case "room.rename":
      return inRoom({ type: "rename", data: { roomId, name: "Renamed" }, meta: m });
    case "room.topic":
      return inRoom({ type: "topic", data: { roomId, topic: "News" }, meta: m });
    case "room.role":
      return inRoom({ type: "role", data: { roomId, userId: user("tess"), role: "moderator" }, meta: m });
    case "room.archive":
      return inRoom({ type: "archive", data: { roomId }, meta: m });
    case "msg.post":
      return onMessage({ type: "post", data: { roomId, body: "hi", messageId: msg("m2") }, meta: m }, []);
    case "msg.edit":
      return onMessage({ type: "edit", data: { roomId, messageId: m1, body: "changed" }, meta: m });
    case "msg.delete":
      return onMessage({ type: "delete", data: { roomId, messageId: m1 }, meta: m });
    case "msg.react":
      return onMessage({ type: "react", data: { roomId, messageId: m1, emoji: "🎉" }, meta: m });
    case "msg.unreact":
      return onMessage({ type: "unreact", data: { roomId, messageId: m1, emoji: "👍" }, meta: m });
    case "user.profile":
      return profile({ type: "profile", data: { displayName: "New name" }, meta: m });
    case "user.identity":
      return profile({ type: "identity", data: { name: "Token Name" }, meta: m });
    default:
      throw new Error(`no command built for ${action}`);
  }
}

const label = (expected: Expected): string => (typeof expected === "string" ? expected : expected.name);

const cases = Object.entries(TABLE).flatMap(([action, byPrivilege]) =>
  (Object.entries(byPrivilege) as [Privilege, Row][]).flatMap(([privilege, row]) =>
    ROLES.map((role, i) => ({ action, privilege, role, expected: row[i] as Expected })),
  ),
);

describe("the permission table", () => {
  test("covers every command", () => {
    expect(Object.keys(TABLE).sort()).toEqual([...COMMANDS.keys()].sort());
    expect(cases).toHaveLength(18 * 4 * 4);
  });

  test.each(cases.map((c) => ({ ...c, outcome: label(c.expected) })))(
    "$action, $privilege, $role → $outcome",
    ({ action, privilege, role, expected }) => {
      const { data, decide } = attempt(action, ACTOR[role], privilege);
      COMMANDS.get(action)?.body.parse(data); // the command itself is well-formed
      let outcome: string;
      try {
        const events = decide();
        outcome = events.length === 0 ? noop : events.map((e) => e.type).join(",");
      } catch (e) {
        if (!(e instanceof NatterError)) throw e;
        outcome = e.constructor.name;
      }
      expect(outcome).toBe(expected === ok ? EVENT_OF[action] : label(expected));
    },
  );
});

describe("the policy functions", () => {
  // prettier-ignore
  const OUTRANKS: [Privilege, string, string, boolean][] = [
    // privilege, actor role, target role, may act on the target
    ["admin", "none",      "owner",     true ],
    ["user",  "owner",     "owner",     true ],
    ["user",  "owner",     "moderator", true ],
    ["user",  "moderator", "owner",     false],
    ["user",  "moderator", "moderator", false],
    ["user",  "moderator", "member",    true ],
    ["user",  "moderator", "none",      true ],
    ["user",  "member",    "member",    false],
    ["user",  "member",    "none",      false],
    ["user",  "none",      "none",      false],
  ];
  const asRole = (r: string) => (r === "none" ? undefined : (r as "owner" | "moderator" | "member"));

  test.each(OUTRANKS)("outranks(%s, %s, %s) is %s", (privilege, actor, target, expected) => {
    expect(outranks(privilege, asRole(actor), asRole(target))).toBe(expected);
  });

  test("moderates and rankOf", () => {
    expect([
      moderates("admin", undefined),
      moderates("user", "owner"),
      moderates("user", "moderator"),
      moderates("user", "member"),
      moderates("user", undefined),
    ]).toEqual([true, true, true, false, false]);
    expect([rankOf("owner"), rankOf("moderator"), rankOf("member"), rankOf(undefined)]).toEqual([3, 2, 1, 0]);
  });
});

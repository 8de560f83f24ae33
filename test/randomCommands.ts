import type { NatsConnection } from "@nats-io/transport-node";
import fc from "fast-check";
import { sendCommand } from "./commandClient.ts";

/**
 * Random command scripts for property tests: valid and invalid commands from a few users (some
 * acting as admin) over the rooms and messages the script itself creates. Rooms, messages and
 * users are named by index into what exists when the step runs. A step marked `fit` picks, from
 * what the script has seen accepted so far, an actor and target for which the command is likely
 * to be accepted (a member posts, an owner bans a member); the others pick blindly and are mostly
 * refused. The service's answer decides either way: the script only keeps track of what it was told.
 */

/** The users a script acts as. */
export const USERS = ["alice", "bob", "carol", "dave", "erin"] as const;

type Common = { actor: number; admin: boolean; fit: boolean; pick: number };
type Action =
  | { op: "create"; kind: "public" | "private" | "dm"; name: string; topic: string | null; members: number[] }
  | { op: "join" | "leave" | "archive"; room: number }
  | { op: "invite" | "remove" | "ban" | "unban"; room: number; target: number; reason: string | null }
  | { op: "rename"; room: number; name: string }
  | { op: "topic"; room: number; topic: string }
  | { op: "role"; room: number; target: number; role: string }
  | { op: "post"; room: number; body: string; replyTo: number | null; mentions: number[] }
  | { op: "edit"; message: number; body: string }
  | { op: "delete"; message: number; reason: string | null }
  | { op: "react" | "unreact"; message: number; emoji: string }
  | { op: "profile"; displayName: string | null; language: string | null }
  | { op: "bad"; variant: number; room: number };
type Step = Common & Action;

export type Script = Step[];

const index = fc.nat({ max: 1000 });
const user = fc.nat({ max: USERS.length - 1 });
/** Text as people type it, sometimes blank (refused where text is required), sometimes odd. */
const text = fc.oneof(
  { weight: 8, arbitrary: fc.string({ minLength: 1, maxLength: 24, unit: "grapheme" }) },
  { weight: 1, arbitrary: fc.constantFrom("", "   ", "\t\n") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'it\'s "quoted" \\ back',
      "emoji 👍🏽 and ünïcode",
      "line\nbreaks\r\n",
      "x".repeat(8001),
      "<b>html</b> & 'sql'; --",
      "nul \u0000 byte",
    ),
  },
);
const emoji = fc.constantFrom("👍", "👍", "🎉", ":smile:", "❤️", "a b");
const room = index;

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("create" as const),
      kind: fc.constantFrom("public" as const, "public" as const, "private" as const, "dm" as const),
      name: text,
      topic: fc.option(text),
      members: fc.array(user, { maxLength: 3 }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constantFrom("join" as const, "join" as const, "join" as const, "leave" as const),
      room,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("archive" as const), room }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom("invite" as const, "invite" as const, "remove" as const, "ban" as const, "unban" as const),
      room,
      target: user,
      reason: fc.option(text),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("rename" as const), room, name: text }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("topic" as const), room, topic: text }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("role" as const),
      room,
      target: user,
      role: fc.constantFrom("owner", "moderator", "moderator", "member", "king"),
    }),
  },
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant("post" as const),
      room,
      body: text,
      replyTo: fc.option(index, { freq: 3 }),
      mentions: fc.array(user, { maxLength: 3 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("edit" as const), message: index, body: text }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), message: index, reason: fc.option(text) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constantFrom("react" as const, "react" as const, "unreact" as const),
      message: index,
      emoji,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("profile" as const),
      displayName: fc.option(text),
      language: fc.option(fc.constantFrom("en", "pt-BR", "de", "english!!")),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("bad" as const), variant: fc.nat({ max: 7 }), room }) },
);
/** Who acts (as admin one time in six) and whether the step picks a fitting actor and target (three times in four). */
const common = fc.record({
  actor: user,
  admin: fc.nat({ max: 5 }).map((n) => n === 0),
  fit: fc.nat({ max: 3 }).map((n) => n > 0),
  pick: index,
});
const step: fc.Arbitrary<Step> = fc.tuple(action, common).map(([a, c]) => ({ ...c, ...a }) as Step);

/**
 * A script whose fitting steps make one event of each common type (a room, a join, two posts, an
 * edit, a reaction, a deletion, a profile): property tests run it beside the random ones, so that
 * every type is checked whatever the random scripts happen to do.
 */
export function everyCommonTypeScript(): Script {
  const who = { actor: 0, admin: false, fit: true, pick: 0 };
  return [
    { ...who, op: "create", kind: "public", name: "every type", topic: null, members: [] },
    { ...who, op: "join", room: 0 },
    { ...who, op: "post", room: 0, body: "the first", replyTo: null, mentions: [] },
    { ...who, op: "post", room: 0, body: "the second", replyTo: null, mentions: [] },
    { ...who, op: "edit", message: 0, body: "the first, edited" },
    { ...who, op: "react", message: 0, emoji: "👍" },
    { ...who, op: "delete", message: 1, reason: null },
    { ...who, op: "profile", displayName: "Every Type", language: "en" },
  ];
}

/** A script of `minLength` to `maxLength` steps. */
export function scriptArbitrary(minLength: number, maxLength: number): fc.Arbitrary<Script> {
  return fc.array(step, { minLength, maxLength });
}

/** What running a script did. */
export type ScriptOutcome = {
  ok: number;
  refused: Record<string, number>;
  byAction: Record<string, { ok: number; refused: number }>;
  rooms: number;
  messages: number;
};

type RoomModel = {
  id: string;
  kind: string;
  archived: boolean;
  members: Map<string, string>;
  invited: Set<string>;
  banned: Set<string>;
};
type MessageModel = {
  roomId: string;
  messageId: string;
  author: string;
  deleted: boolean;
  reply: boolean;
  reactions: Set<string>;
};

/**
 * Sends a script's commands through the command service, one after another (each waits for its
 * answer, not for the projections). Resolves with how many were accepted and refused, by code.
 */
export async function runScript(nc: NatsConnection, script: Script): Promise<ScriptOutcome> {
  const rooms: RoomModel[] = [];
  const messages: MessageModel[] = [];
  const outcome: ScriptOutcome = { ok: 0, refused: {}, byAction: {}, rooms: 0, messages: 0 };
  const at = <T>(xs: readonly T[], i: number): T | undefined => (xs.length === 0 ? undefined : xs[i % xs.length]);
  const noRoom: RoomModel = {
    id: "no_such_room",
    kind: "public",
    archived: false,
    members: new Map(),
    invited: new Set(),
    banned: new Set(),
  };

  for (const s of script) {
    let actor: string = USERS[s.actor]!;
    let admin = s.admin;
    // A fitting step prefers an open room and a live message; a blind one takes any.
    const openRooms = rooms.filter((r) => !r.archived && r.kind !== "dm");
    const roomOf = (i: number) => (s.fit ? (at(openRooms, i) ?? at(rooms, i)) : at(rooms, i)) ?? noRoom;
    const liveMessages = messages.filter((m) => !m.deleted);
    const messageOf = (i: number) => (s.fit ? (at(liveMessages, i) ?? at(messages, i)) : at(messages, i));
    const membersOf = (r: RoomModel) => [...r.members.keys()];
    const ownersOf = (r: RoomModel) => [...r.members].filter(([, role]) => role === "owner").map(([u]) => u);
    const nonMembers = (r: RoomModel) => USERS.filter((u) => !r.members.has(u));
    /** A fitting actor from `candidates`, if any; otherwise the step's own. */
    const actAs = (candidates: readonly string[]) => {
      if (s.fit && candidates.length > 0) actor = at(candidates, s.pick)!;
    };

    let command: string;
    let body: Record<string, unknown>;
    let r: RoomModel = noRoom;
    let m: MessageModel | undefined;
    switch (s.op) {
      case "create": {
        command = "room.create";
        const members = [...new Set(s.members.map((i) => USERS[i]!))];
        const given =
          s.fit && s.kind === "dm" ? [USERS[(s.actor + 1 + (s.pick % (USERS.length - 1))) % USERS.length]!] : members;
        body = {
          name: s.name,
          kind: s.kind,
          ...(s.topic !== null ? { topic: s.topic } : {}),
          ...(given.length > 0 || s.kind === "dm" ? { members: given } : {}),
        };
        break;
      }
      case "join":
        r = roomOf(s.room);
        actAs(nonMembers(r).filter((u) => !r.banned.has(u) && (r.kind !== "private" || r.invited.has(u))));
        command = "room.join";
        body = { roomId: r.id };
        break;
      case "leave":
        r = roomOf(s.room);
        actAs(membersOf(r).filter((u) => r.members.get(u) !== "owner"));
        command = "room.leave";
        body = { roomId: r.id };
        break;
      case "archive":
        r = roomOf(s.room);
        // An archived room refuses nearly everything after: let owners archive only now and then.
        if (s.pick % 2 === 0) actAs(ownersOf(r));
        command = "room.archive";
        body = { roomId: r.id };
        break;
      case "invite":
      case "remove":
      case "ban":
      case "unban": {
        r = roomOf(s.room);
        let target: string = USERS[s.target]!;
        if (s.op === "invite") {
          actAs(membersOf(r));
          if (s.fit)
            target =
              at(
                nonMembers(r).filter((u) => !r.banned.has(u)),
                s.target,
              ) ?? target;
        } else {
          actAs(ownersOf(r));
          if (s.fit && s.op === "unban") target = at([...r.banned], s.target) ?? target;
          else if (s.fit)
            target =
              at(
                membersOf(r).filter((u) => r.members.get(u) !== "owner"),
                s.target,
              ) ?? target;
        }
        command = `room.${s.op}`;
        body = { roomId: r.id, userId: target, ...(s.reason !== null ? { reason: s.reason } : {}) };
        break;
      }
      case "rename":
      case "topic":
        r = roomOf(s.room);
        actAs(ownersOf(r));
        command = `room.${s.op}`;
        body = s.op === "rename" ? { roomId: r.id, name: s.name } : { roomId: r.id, topic: s.topic };
        break;
      case "role": {
        r = roomOf(s.room);
        actAs(ownersOf(r));
        const target = s.fit ? (at(membersOf(r), s.target) ?? USERS[s.target]!) : USERS[s.target]!;
        command = "room.role";
        body = { roomId: r.id, userId: target, role: s.role };
        break;
      }
      case "post": {
        r = roomOf(s.room);
        actAs(membersOf(r));
        // A reply goes to a live root of the same room when there is one, else to anything (refused).
        const roots = messages.filter((x) => x.roomId === r.id && !x.reply && !x.deleted);
        const root = s.replyTo === null ? undefined : (at(roots, s.replyTo) ?? at(messages, s.replyTo));
        command = "msg.post";
        body = {
          roomId: r.id,
          body: s.body,
          ...(root ? { threadRootId: root.messageId } : {}),
          ...(s.mentions.length > 0 ? { mentions: s.mentions.map((i) => USERS[i]!) } : {}),
        };
        break;
      }
      case "edit":
      case "delete":
      case "react":
      case "unreact": {
        m = messageOf(s.message);
        r = rooms.find((x) => x.id === m?.roomId) ?? noRoom;
        if (s.op === "edit" || s.op === "delete") actAs(m && r.members.has(m.author) ? [m.author] : []);
        else if (s.op === "unreact")
          actAs(
            m ? [...m.reactions].filter((k) => k.startsWith(`${s.emoji}\u0000`)).map((k) => k.split("\u0000")[1]!) : [],
          );
        else actAs(membersOf(r));
        const target = m ?? { roomId: r.id, messageId: "no_such_message" };
        command = `msg.${s.op}`;
        body = {
          roomId: target.roomId,
          messageId: target.messageId,
          ...(s.op === "edit"
            ? { body: s.body }
            : s.op === "delete"
              ? s.reason !== null
                ? { reason: s.reason }
                : {}
              : { emoji: s.emoji }),
        };
        break;
      }
      case "profile":
        admin = false;
        command = "user.profile";
        body = {
          ...(s.displayName !== null ? { displayName: s.displayName } : {}),
          ...(s.language !== null ? { language: s.language } : {}),
        };
        break;
      case "bad": {
        r = roomOf(s.room);
        const bad: [string, Record<string, unknown>][] = [
          ["msg.post", { roomId: r.id, body: "hi", extra: true }],
          ["msg.post", { roomId: "bad.room", body: "hi" }],
          ["room.join", {}],
          ["room.create", { name: "x", kind: "channel" }],
          ["msg.react", { roomId: r.id, messageId: "no_such_message", emoji: "👍" }],
          ["room.frobnicate", { roomId: r.id }],
          ["msg.post", { roomId: r.id, body: 42 }],
          ["user.profile", {}],
        ];
        [command, body] = bad[s.variant % bad.length]!;
        break;
      }
    }

    const reply = await sendCommand(nc, actor, command, body, { admin });
    const tally = (outcome.byAction[command] ??= { ok: 0, refused: 0 });
    if (!reply.ok) {
      tally.refused++;
      outcome.refused[reply.error.code] = (outcome.refused[reply.error.code] ?? 0) + 1;
      continue;
    }
    tally.ok++;
    outcome.ok++;
    // Keep track of what the service accepted (a no-op changes nothing either way).
    const userId = body["userId"] as string;
    switch (command) {
      case "room.create": {
        const id = reply.result["roomId"] as string;
        const kind = body["kind"] as string;
        const others = ((body["members"] as string[] | undefined) ?? []).filter((u) => u !== actor);
        const members = new Map<string, string>([
          [actor, kind === "dm" ? "member" : "owner"],
          ...others.map((u) => [u, "member"] as [string, string]),
        ]);
        rooms.push({ id, kind, archived: false, members, invited: new Set(), banned: new Set() });
        break;
      }
      case "room.join":
        if (!r.members.has(actor)) r.members.set(actor, r.members.size === 0 ? "owner" : "member");
        r.invited.delete(actor);
        break;
      case "room.leave":
        r.members.delete(actor);
        break;
      case "room.archive":
        r.archived = true;
        break;
      case "room.invite":
        if (!r.members.has(userId)) r.invited.add(userId);
        break;
      case "room.remove":
        r.members.delete(userId);
        r.invited.delete(userId);
        break;
      case "room.ban":
        r.members.delete(userId);
        r.invited.delete(userId);
        r.banned.add(userId);
        break;
      case "room.unban":
        r.banned.delete(userId);
        break;
      case "room.role":
        if (r.members.has(userId)) r.members.set(userId, body["role"] as string);
        break;
      case "msg.post":
        messages.push({
          roomId: body["roomId"] as string,
          messageId: reply.result["messageId"] as string,
          author: actor,
          deleted: false,
          reply: body["threadRootId"] !== undefined,
          reactions: new Set(),
        });
        break;
      case "msg.delete":
        if (m) m.deleted = true;
        break;
      case "msg.react":
        m?.reactions.add(`${body["emoji"] as string}\u0000${actor}`);
        break;
      case "msg.unreact":
        m?.reactions.delete(`${body["emoji"] as string}\u0000${actor}`);
        break;
      default:
        break;
    }
  }
  outcome.rooms = rooms.length;
  outcome.messages = messages.length;
  return outcome;
}

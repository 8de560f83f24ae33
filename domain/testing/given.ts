import { expect } from "vitest";
import type { z } from "zod";
import type { NatterError } from "../errors.ts";
import { CommandId, MessageId, RoomId, UserId } from "../ids.ts";
import type { CommandMeta, Privilege } from "../metadata.ts";
import type { RoomRole } from "../policy.ts";
import type { MessageCommand } from "../message/commands.ts";
import { decideMessage, evolveMessage } from "../message/decider.ts";
import { MessageEvent } from "../message/events.ts";
import { initialMessageState, type MessageState } from "../message/state.ts";
import type { RoomCommand } from "../room/commands.ts";
import { decideRoom, evolveRoom } from "../room/decider.ts";
import { RoomEvent, type RoomKind } from "../room/events.ts";
import { initialRoomState, type RoomState } from "../room/state.ts";
import type { UserCommand } from "../user/commands.ts";
import { decideUser, evolveUser } from "../user/decider.ts";
import { UserEvent } from "../user/events.ts";
import { initialUserState, type UserState } from "../user/state.ts";

/** The time every test command is decided at. */
export const NOW = "2025-01-01T00:00:00.000Z";

/** Short constructors for branded ids in tests. */
export const user = (id: string): UserId => UserId.parse(id);
export const room = (id: string): RoomId => RoomId.parse(id);
export const msg = (id: string): MessageId => MessageId.parse(id);

/** Command metadata: `actor` acting with `privilege` (default `user`) under `commandId`. */
export function meta(actor: string, privilege: Privilege = "user", commandId = "cmd-1"): CommandMeta {
  return { actor: user(actor), privilege, commandId: CommandId.parse(commandId), now: NOW };
}

/** A concrete NatterError subclass, as `thenThrows` expects it. */
export type ErrorClass = new (message: string) => NatterError;

/** What a `when` leads to; each ends the test with an assertion. */
export type Outcome<E> = {
  /** The decision appends exactly `expected`, in order (each also valid against its schema). */
  then(expected: readonly E[]): void;
  /** The decision is refused with an error of exactly this class. */
  thenThrows(error: ErrorClass): void;
  /** The decision is an accepted no-op: no error, no event. */
  thenNothing(): void;
};

function outcome<E>(decide: () => E[], schema: z.ZodType): Outcome<E> {
  const run = (): E[] => {
    const events = decide();
    for (const event of events) schema.parse(event);
    return events;
  };
  return {
    then: (expected) => expect(run()).toEqual(expected),
    thenThrows: (error) => {
      let thrown: unknown;
      let events: E[] = [];
      try {
        events = decide();
      } catch (e) {
        thrown = e;
      }
      if (thrown === undefined) expect.fail(`expected ${error.name}, but it decided ${JSON.stringify(events)}`);
      const got =
        thrown instanceof Error
          ? { error: thrown.constructor.name, message: thrown.message }
          : { error: String(thrown) };
      expect(got).toMatchObject({ error: error.name });
      expect(thrown).toBeInstanceOf(error);
    },
    thenNothing: () => expect(run()).toEqual([]),
  };
}

/** The room state after `events`. */
export function roomFrom(events: readonly RoomEvent[]): RoomState {
  return events.reduce(evolveRoom, initialRoomState());
}

/** The message state after `events`. */
export function messageFrom(events: readonly MessageEvent[]): MessageState {
  return events.reduce(evolveMessage, initialMessageState());
}

/** The user state after `events`. */
export function userFrom(events: readonly UserEvent[]): UserState {
  return events.reduce(evolveUser, initialUserState());
}

/** @example givenRoom([created]).when({ type: "join", data: { roomId }, meta: meta("bob") }).then([joined]) */
export function givenRoom(events: readonly RoomEvent[]): { when(command: RoomCommand): Outcome<RoomEvent> } {
  return { when: (command) => outcome(() => decideRoom(command, roomFrom(events)), RoomEvent) };
}

/** What a message command is decided against: its room's events, and a reply's thread root's. */
export type MessageGiven = { readonly room: readonly RoomEvent[]; readonly threadRoot?: readonly MessageEvent[] };

/** @example givenMessage([posted], { room: [created] }).when(edit).then([edited]) */
export function givenMessage(
  events: readonly MessageEvent[],
  context: MessageGiven,
): { when(command: MessageCommand): Outcome<MessageEvent> } {
  return {
    when: (command) =>
      outcome(() => {
        const root = context.threadRoot === undefined ? {} : { threadRoot: messageFrom(context.threadRoot) };
        return decideMessage(command, messageFrom(events), { room: roomFrom(context.room), ...root });
      }, MessageEvent),
  };
}

/** @example givenUser([]).when(profile).then([updated]) */
export function givenUser(events: readonly UserEvent[]): { when(command: UserCommand): Outcome<UserEvent> } {
  return { when: (command) => outcome(() => decideUser(command, userFrom(events)), UserEvent) };
}

/** A `RoomCreated` of room `roomId` by the first of `members` (user id and room role pairs). */
export function roomCreated(
  roomId: string,
  kind: RoomKind,
  members: readonly (readonly [string, RoomRole])[],
  name = "General",
): RoomEvent {
  const [first] = members;
  if (first === undefined) throw new Error("a room is created with at least its creator");
  return {
    type: "RoomCreated",
    data: {
      roomId: room(roomId),
      name,
      kind,
      topic: "",
      createdBy: user(first[0]),
      members: members.map(([u, role]) => ({ userId: user(u), role })),
    },
  };
}

/** A `MessagePosted` of `messageId` in `roomId` by `authorId`. */
export function messagePosted(
  roomId: string,
  messageId: string,
  authorId: string,
  body = "hello",
  threadRootId?: string,
): MessageEvent {
  const data = { roomId: room(roomId), messageId: msg(messageId), authorId: user(authorId), body, mentions: [] };
  return {
    type: "MessagePosted",
    data: threadRootId === undefined ? data : { ...data, threadRootId: msg(threadRootId) },
  };
}

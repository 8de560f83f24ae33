import { z } from "zod";
import {
  MessageEdited,
  MessageDeleted,
  MessagePosted,
  MessageTranslated,
  ReactionAdded,
  ReactionRemoved,
  type MessageEvent,
} from "./message/events.ts";
import {
  MemberBanned,
  MemberInvited,
  MemberJoined,
  MemberLeft,
  MemberRemoved,
  MemberRoleChanged,
  MemberUnbanned,
  RoomArchived,
  RoomCreated,
  RoomRenamed,
  RoomTopicChanged,
  type RoomEvent,
} from "./room/events.ts";
import { UserProfileUpdated, type UserEvent } from "./user/events.ts";

/** Every event natter appends. */
export type DomainEvent = RoomEvent | MessageEvent | UserEvent;
export type EventType = DomainEvent["type"];

/** The aggregate kinds, each the second token of its subjects (`ev.<kind>.…`). */
export type AggregateKind = "room" | "msg" | "user";

/** Turns a payload of schema version `n` into the shape of version `n + 1`. */
export type Upcaster = (payload: Record<string, unknown>) => Record<string, unknown>;

type EventDefinition = {
  readonly aggregate: AggregateKind;
  /** The current payload version, written to `Natter-Schema`. */
  readonly version: number;
  /** The schema of `{ type, data }` at the current version. */
  readonly schema: z.ZodType;
  /** `upcasters[n]` lifts a version-`n` payload to version `n + 1`. */
  readonly upcasters: Readonly<Record<number, Upcaster>>;
};

const def = (
  aggregate: AggregateKind,
  schema: z.ZodType,
  version = 1,
  upcasters: Record<number, Upcaster> = {},
): EventDefinition => ({
  aggregate,
  schema,
  version,
  upcasters,
});

/**
 * The event catalogue: which aggregate each type belongs to, its current payload version and the
 * upcasters from older ones. A reader never sees an old shape.
 */
export const EVENTS: Readonly<Record<EventType, EventDefinition>> = {
  RoomCreated: def("room", RoomCreated),
  RoomRenamed: def("room", RoomRenamed),
  RoomTopicChanged: def("room", RoomTopicChanged),
  MemberJoined: def("room", MemberJoined),
  MemberInvited: def("room", MemberInvited),
  MemberLeft: def("room", MemberLeft),
  MemberRemoved: def("room", MemberRemoved),
  MemberBanned: def("room", MemberBanned),
  MemberUnbanned: def("room", MemberUnbanned),
  MemberRoleChanged: def("room", MemberRoleChanged),
  RoomArchived: def("room", RoomArchived),
  // Version 1 named the body `text` and had no mentions (the first prototype's shape).
  MessagePosted: def("msg", MessagePosted, 2, {
    1: ({ text, ...rest }) => ({ ...rest, body: text, mentions: [] }),
  }),
  MessageEdited: def("msg", MessageEdited),
  MessageDeleted: def("msg", MessageDeleted),
  ReactionAdded: def("msg", ReactionAdded),
  ReactionRemoved: def("msg", ReactionRemoved),
  MessageTranslated: def("msg", MessageTranslated),
  UserProfileUpdated: def("user", UserProfileUpdated),
};

/** True when `type` names an event of the catalogue. */
export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENTS, type);
}

/**
 * Lifts a payload from `fromVersion` to the current version of `type` and validates it, returning
 * the event. Throws an Error that names the type and the version when no upcaster covers a step,
 * when the version is newer than this code knows, or when the payload does not fit the schema.
 *
 * @example upcast("MessagePosted", 1, { roomId, messageId, authorId, text: "hi" }) // body: "hi", mentions: []
 */
export function upcast(type: EventType, fromVersion: number, payload: unknown): DomainEvent {
  const definition = EVENTS[type];
  if (!Number.isInteger(fromVersion) || fromVersion < 1)
    throw new Error(`${type}: schema version ${fromVersion} is not a positive integer`);
  if (fromVersion > definition.version) {
    throw new Error(
      `${type}: schema version ${fromVersion} is newer than this code knows (${definition.version}); upgrade natter`,
    );
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new Error(`${type}: the payload of schema version ${fromVersion} is not a JSON object`);
  }
  let data = payload as Record<string, unknown>;
  for (let v = fromVersion; v < definition.version; v++) {
    const up = definition.upcasters[v];
    if (up === undefined) throw new Error(`${type}: no upcaster from schema version ${v}`);
    data = up(data);
  }
  const result = definition.schema.safeParse({ type, data });
  if (!result.success) {
    throw new Error(
      `${type}: the payload of schema version ${fromVersion} does not fit the schema: ${z.prettifyError(result.error)}`,
      { cause: result.error },
    );
  }
  return result.data as DomainEvent;
}

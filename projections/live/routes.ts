import { assertNever, EVENTS, liveSubjects, type LiveEvent, type RoomEvent, type UserId } from "../../domain/index.ts";
import type { EventEnvelope } from "../../streams/index.ts";
import { audienceOf, mayRead, type RoomEntry } from "./roomCache.ts";

/** The kinds of live subject, as the metrics count them. */
export type RouteKind = "room" | "thread" | "mention" | "notice";
/** Every kind of live subject, in the order an event's messages are published. */
export const ROUTE_KINDS: readonly RouteKind[] = ["room", "thread", "mention", "notice"];

/** Where one event goes: the subjects of each kind. */
export type Routes = Readonly<Record<RouteKind, readonly string[]>>;

/** What routing needs besides the event. */
export type RouteContext = {
  /** The room's state after the event (room and message events). */
  room?: RoomEntry;
  /** A thread reply's earlier participants: the root's author and the repliers before it. */
  threadParticipants?: ReadonlySet<UserId>;
  /** The users a posted or edited message mentions (an edit's are its post's). */
  mentions?: readonly UserId[];
};

/** No subject. */
export const NONE: readonly string[] = [];

/**
 * A stored event as live delivery hands it out: its stream sequence and timestamp, its type,
 * actor, room and message ids, and its payload in the newest shape (the envelope's is upcast).
 */
export function liveEventOf(env: EventEnvelope): LiveEvent {
  const data = env.event.data as Record<string, unknown> & { roomId?: string; messageId?: string };
  const out: LiveEvent = { seq: env.seq, time: env.time, type: env.type, actor: env.actor, payload: data };
  if (data.roomId !== undefined) out.roomId = data.roomId;
  if (data.messageId !== undefined) out.messageId = data.messageId;
  return out;
}

/** The users a room event is about, each of whom gets it on `deliver.<uid>.notice`. */
export function noticeTargets(event: RoomEvent): readonly UserId[] {
  switch (event.type) {
    case "RoomCreated":
      return event.data.members.map((m) => m.userId);
    case "MemberJoined":
    case "MemberInvited":
    case "MemberLeft":
    case "MemberRemoved":
    case "MemberBanned":
    case "MemberUnbanned":
    case "MemberRoleChanged":
      return [event.data.userId];
    case "RoomRenamed":
    case "RoomTopicChanged":
    case "RoomArchived":
      return [];
    default:
      return assertNever(event);
  }
}

/**
 * The subjects one stored event goes to (docs/read-side.md, "Live delivery"):
 * - a room or message event to the room's audience (`live.room.<roomId>` when public, else
 *   `deliver.<uid>.room.<roomId>` to each member after the event: a member who left, was removed
 *   or banned gets the notice of it and nothing more);
 * - a room event also to the users it is about, on `deliver.<uid>.notice`; a profile update to
 *   its user (and, sent by the fan-out itself, to each room the user is in);
 * - a thread reply also to the thread's participants but its author, on `deliver.<p>.thread.<roomId>`;
 * - a post or an edit also to each mentioned user, on `deliver.<m>.mention.<roomId>`.
 * Thread and mention deliveries go only to users who may read the room.
 */
export function routesOf(env: EventEnvelope, context: RouteContext): Routes {
  const e = env.event;
  const aggregate = EVENTS[e.type].aggregate;
  if (aggregate === "user")
    return {
      room: NONE,
      thread: NONE,
      mention: NONE,
      notice: [liveSubjects.notice((e.data as { userId: string }).userId)],
    };
  const entry = context.room;
  if (entry === undefined) return { room: NONE, thread: NONE, mention: NONE, notice: NONE };
  const room = audienceOf(entry);
  const readers = (
    users: Iterable<UserId>,
    except: string | undefined,
    subject: (uid: string, roomId: string) => string,
  ) => {
    const out: string[] = [];
    for (const uid of users) if (uid !== except && mayRead(entry.state, uid)) out.push(subject(uid, entry.roomId));
    return out;
  };
  if (aggregate === "room")
    return { room, thread: NONE, mention: NONE, notice: noticeTargets(e as RoomEvent).map(liveSubjects.notice) };
  if (e.type === "MessagePosted") {
    const participants = e.data.threadRootId === undefined ? undefined : context.threadParticipants;
    const thread = participants === undefined ? NONE : readers(participants, e.data.authorId, liveSubjects.thread);
    return { room, thread, mention: readers(e.data.mentions, undefined, liveSubjects.mention), notice: NONE };
  }
  const mentioned = e.type === "MessageEdited" ? (context.mentions ?? []) : [];
  return { room, thread: NONE, mention: readers(mentioned, undefined, liveSubjects.mention), notice: NONE };
}

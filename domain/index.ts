export { CommandId, ID_PATTERN, MessageId, RoomId, StreamSeq, ulidTime, UserId, userIdFromSub } from "./ids.ts";
export {
  ConflictError,
  ERROR_CODES,
  ForbiddenError,
  InvalidError,
  NatterError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  UnavailableError,
} from "./errors.ts";
export type { ErrorCode, ErrorDetails } from "./errors.ts";
export type { CommandMeta, Privilege } from "./metadata.ts";
export { ROOM_ROLES, canAct, isAdmin, moderates, outranks, rankOf } from "./policy.ts";
export type { RoomRole } from "./policy.ts";
export { assertNever } from "./decider.ts";
export type { Decider } from "./decider.ts";
export { EVENTS, isEventType, upcast } from "./events.ts";
export type { AggregateKind, DomainEvent, EventType, Upcaster } from "./events.ts";
export { COMMANDS, parseCommand } from "./commands.ts";
export type { ParsedCommand } from "./commands.ts";
export { ROOM_KINDS } from "./room/events.ts";
export type { RoomEvent, RoomKind } from "./room/events.ts";
export { roomCommandBodies, MAX_ROOM_NAME, MAX_TOPIC } from "./room/commands.ts";
export type { RoomAction, RoomCommand } from "./room/commands.ts";
export { initialRoomState, roomStateFromJson, roomStateToJson } from "./room/state.ts";
export type { RoomState, RoomStateJson } from "./room/state.ts";
export { decideRoom, evolveRoom, roomDecider } from "./room/decider.ts";
export type { MessageEvent } from "./message/events.ts";
export { messageCommandBodies, MAX_BODY, MAX_EMOJI, MAX_MENTIONS } from "./message/commands.ts";
export type { MessageAction, MessageCommand } from "./message/commands.ts";
export { initialMessageState, messageStateFromJson, messageStateToJson } from "./message/state.ts";
export type { MessageState, MessageStateJson } from "./message/state.ts";
export { decideMessage, evolveMessage, messageDecider } from "./message/decider.ts";
export type { MessageContext } from "./message/decider.ts";
export type { UserEvent } from "./user/events.ts";
export { userCommandBodies, LANGUAGE_TAG, MAX_DISPLAY_NAME } from "./user/commands.ts";
export type { UserAction, UserCommand } from "./user/commands.ts";
export { initialUserState } from "./user/state.ts";
export type { UserState } from "./user/state.ts";
export { decideUser, evolveUser, userDecider } from "./user/decider.ts";
export { LiveEvent, liveSubjects, PRESENCE_STATUSES, PresenceHeartbeat } from "./live.ts";
export type { PresenceStatus } from "./live.ts";
export { parseRateLimit, RateLimiter } from "./rateLimit.ts";
export { assertStorable, findUnstorable, storableText, unstorable } from "./text.ts";
export type { RateLimit } from "./rateLimit.ts";

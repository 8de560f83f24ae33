import {
  evolveMessage,
  evolveRoom,
  evolveUser,
  initialMessageState,
  initialRoomState,
  initialUserState,
  messageStateFromJson,
  messageStateToJson,
  roomStateFromJson,
  roomStateToJson,
  type MessageEvent,
  type MessageState,
  type RoomEvent,
  type RoomState,
  type UserEvent,
  type UserState,
} from "../domain/index.ts";
import type { AggregateSpec } from "../streams/index.ts";

/** How the command service folds and snapshots rooms. */
export const roomSpec: AggregateSpec<RoomState> = {
  initialState: initialRoomState,
  evolve: (s, e) => evolveRoom(s, e as RoomEvent),
  toJson: roomStateToJson,
  fromJson: roomStateFromJson,
  version: 1,
};

/** How the command service folds and snapshots messages. */
export const messageSpec: AggregateSpec<MessageState> = {
  initialState: initialMessageState,
  evolve: (s, e) => evolveMessage(s, e as MessageEvent),
  toJson: messageStateToJson,
  fromJson: messageStateFromJson,
  version: 1,
};

/** How the command service folds and snapshots user profiles. */
export const userSpec: AggregateSpec<UserState> = {
  initialState: initialUserState,
  evolve: (s, e) => evolveUser(s, e as UserEvent),
  toJson: (s) => s,
  // A snapshot made before identity names has none.
  fromJson: (j: UserState) => ({ ...j, identityName: j.identityName ?? null }),
  version: 1,
};

import type { MessageId, RoomId, UserId } from "../ids.ts";

/** What the message decider knows of one message. `reactions` maps an emoji to who reacted. */
export type MessageState = {
  exists: boolean;
  roomId: RoomId | null;
  messageId: MessageId | null;
  authorId: UserId | null;
  body: string;
  threadRootId: MessageId | null;
  deleted: boolean;
  reactions: Map<string, Set<UserId>>;
};

/** The state of a message before it is posted. */
export function initialMessageState(): MessageState {
  return {
    exists: false,
    roomId: null,
    messageId: null,
    authorId: null,
    body: "",
    threadRootId: null,
    deleted: false,
    reactions: new Map(),
  };
}

/** A message state as plain JSON, for snapshots. */
export type MessageStateJson = Omit<MessageState, "reactions"> & { reactions: [string, UserId[]][] };

/** Turns a message state into plain JSON (for a snapshot). */
export function messageStateToJson(state: MessageState): MessageStateJson {
  return { ...state, reactions: [...state.reactions].map(([e, users]) => [e, [...users]]) };
}

/** Rebuilds a message state from `messageStateToJson`'s output. */
export function messageStateFromJson(json: MessageStateJson): MessageState {
  return { ...json, reactions: new Map(json.reactions.map(([e, users]) => [e, new Set(users)])) };
}

import type { RoomId, UserId } from "../ids.ts";
import type { RoomRole } from "../policy.ts";
import type { RoomKind } from "./events.ts";
import type { Privilege } from "../metadata.ts";

/**
 * What the room decider knows of a room. Maps are owned by whoever folds the events: `evolve`
 * updates them in place (a room of thousands of members folds in linear time).
 */
export type RoomState = {
  exists: boolean;
  roomId: RoomId | null;
  name: string;
  kind: RoomKind;
  topic: string;
  archived: boolean;
  members: Map<UserId, RoomRole>;
  invited: Set<UserId>;
  banned: Set<UserId>;
};

/** The state of a room before its first event. */
export function initialRoomState(): RoomState {
  return {
    exists: false,
    roomId: null,
    name: "",
    kind: "public",
    topic: "",
    archived: false,
    members: new Map(),
    invited: new Set(),
    banned: new Set(),
  };
}

/**
 * True when `actor` may not know the room exists: a private room or direct message they are not a
 * member of nor invited to, without the admin privilege. Commands then answer exactly as for a
 * room that does not exist, so a refusal (or a no-op's sequence) never confirms it or its activity.
 */
export function roomHiddenFrom(state: RoomState, actor: UserId, privilege: Privilege): boolean {
  return (
    state.exists &&
    state.kind !== "public" &&
    !state.members.has(actor) &&
    !state.invited.has(actor) &&
    privilege !== "admin"
  );
}

/** The number of owners among the members. */
export function ownerCount(state: RoomState): number {
  let n = 0;
  for (const role of state.members.values()) if (role === "owner") n++;
  return n;
}

/** A room state as plain JSON, for snapshots. */
export type RoomStateJson = Omit<RoomState, "members" | "invited" | "banned"> & {
  members: [UserId, RoomRole][];
  invited: UserId[];
  banned: UserId[];
};

/** Turns a room state into plain JSON (for a snapshot). */
export function roomStateToJson(state: RoomState): RoomStateJson {
  return { ...state, members: [...state.members], invited: [...state.invited], banned: [...state.banned] };
}

/** Rebuilds a room state from `roomStateToJson`'s output. */
export function roomStateFromJson(json: RoomStateJson): RoomState {
  return { ...json, members: new Map(json.members), invited: new Set(json.invited), banned: new Set(json.banned) };
}

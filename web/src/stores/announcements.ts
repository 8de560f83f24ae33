import type { LiveEvent } from "../../../domain/index.ts";
import { createAnnouncer } from "../announcer.ts";
import { mentionsOf, threadRootOf } from "./messageEvents.ts";
import type { RoomNames } from "./roomActions.ts";
import type { Rooms } from "./rooms.ts";
import type { Users } from "./users.ts";

/** Posts announced at most once each; past this many the memory of them starts again. */
const REMEMBER_ANNOUNCED = 500;

/**
 * The screen reader's word on new messages of others in rooms not open (the open room's
 * timeline says its own): a mention of the user, or a top-level post in one of their rooms.
 */
export function createMessageAnnouncer(deps: {
  me: string;
  users: Users;
  rooms: Rooms;
  names: RoomNames;
  openRoomId: () => string | null;
}) {
  const { me, users, rooms, names } = deps;
  const [announcement, announce] = createAnnouncer();
  const announced = new Set<number>();

  return {
    announcement,
    /** Says a live `MessagePosted` of a room, when it is news to the user. */
    announceMessage(e: LiveEvent): void {
      const author = typeof e.payload["authorId"] === "string" ? e.payload["authorId"] : e.actor;
      users.see(author);
      if (author === me || announced.has(e.seq) || e.roomId === deps.openRoomId()) return;
      announced.add(e.seq);
      if (announced.size > REMEMBER_ANNOUNCED) announced.clear();
      const who = users.nameOf(author);
      if (mentionsOf(e).includes(me)) announce(`${who} mentioned you in ${names.roomLabel(e.roomId!)}`);
      else if (threadRootOf(e) === null && rooms.mine(e.roomId!) !== undefined)
        announce(`New message from ${who} in ${names.roomLabel(e.roomId!)}`);
    },
  };
}

import {
  evolveRoom,
  initialRoomState,
  liveSubjects,
  type RoomEvent,
  type RoomState,
  type UserId,
} from "../../domain/index.ts";
import { roomSubject, type EventEnvelope, type EventStore } from "../../streams/index.ts";
import { Lru } from "./lru.ts";

/** A room as the fan-out knows it: its state after every room event before `nextSeq`. */
export type RoomEntry = {
  readonly roomId: string;
  readonly state: RoomState;
  /** The state holds every event of the room with a sequence below this, and none at or above. */
  nextSeq: number;
  /** The sequence of the last event folded in (0: none). */
  lastEventSeq: number;
  /** Where the room's own events go (computed on first use, forgotten when membership changes). */
  audience: readonly string[] | undefined;
};

/**
 * A bounded LRU of room states for live delivery. The fan-out reads the log in order and folds
 * each room event into the cached state (`apply`), so a cached room needs no lookup. A room
 * missing from the cache is folded from its own events (`ev.room.<roomId>`, batched direct get)
 * up to a given position only: never beyond, or a member who joined later would receive what
 * was said before they joined.
 */
export class RoomCache {
  private readonly lru: Lru<string, RoomEntry>;

  constructor(
    private readonly store: EventStore,
    capacity: number,
    /** Called for each room folded from the log because it was not cached. */
    private readonly onMiss: () => void = () => undefined,
  ) {
    this.lru = new Lru(capacity);
  }

  /** The cached room, or undefined: never reads the log. */
  cached(roomId: string): RoomEntry | undefined {
    return this.lru.get(roomId);
  }

  /**
   * The room as of just before `beforeSeq`: the cached state when there is one (it may be newer,
   * but never newer than the fan-out's position), else its events below `beforeSeq`, folded and
   * cached. A room that does not exist is cached too (it costs nothing, and its creation, when it
   * comes, is folded in like any other event).
   */
  async at(roomId: string, beforeSeq: number): Promise<RoomEntry> {
    const hit = this.lru.get(roomId);
    if (hit !== undefined) return hit;
    this.onMiss();
    const events = await this.store.readSubject(roomSubject(roomId));
    const state = initialRoomState();
    let lastEventSeq = 0;
    for (const e of events) {
      if (e.seq >= beforeSeq) break;
      evolveRoom(state, e.event as RoomEvent);
      lastEventSeq = e.seq;
    }
    // Another caller may have folded the room meanwhile, perhaps further: keep the newer state.
    const raced = this.lru.peek(roomId);
    if (raced !== undefined && raced.nextSeq >= beforeSeq) return raced;
    const entry: RoomEntry = { roomId, state, nextSeq: beforeSeq, lastEventSeq, audience: undefined };
    this.lru.set(roomId, entry);
    return entry;
  }

  /**
   * Folds a room event, read in stream order, into its room's state and answers the entry as it
   * is after the event. A room not cached is folded up to the event first.
   */
  async apply(env: EventEnvelope): Promise<RoomEntry> {
    const event = env.event as RoomEvent;
    const entry = this.cached(event.data.roomId) ?? (await this.at(event.data.roomId, env.seq));
    if (env.seq >= entry.nextSeq) {
      evolveRoom(entry.state, event);
      entry.nextSeq = env.seq + 1;
      entry.lastEventSeq = env.seq;
      entry.audience = undefined;
    }
    return entry;
  }

  /**
   * The room as it is at the end of the log now, for a caller that does not read the log in
   * order (a standby fan-out): one direct get to learn the room's last sequence, and a read of
   * the events after the cached state when it moved. Never mix with `at` and `apply` on one cache.
   */
  async latest(roomId: string): Promise<RoomEntry> {
    const subject = roomSubject(roomId);
    const last = await this.store.lastSeqOf(subject);
    const entry = this.lru.get(roomId) ?? {
      roomId,
      state: initialRoomState(),
      nextSeq: 0,
      lastEventSeq: 0,
      audience: undefined,
    };
    if (entry.lastEventSeq === last) return entry;
    this.onMiss();
    for (const e of await this.store.readSubject(subject, entry.lastEventSeq)) {
      if (e.seq <= entry.lastEventSeq) continue;
      evolveRoom(entry.state, e.event as RoomEvent);
      entry.lastEventSeq = e.seq;
    }
    entry.nextSeq = entry.lastEventSeq + 1;
    entry.audience = undefined;
    this.lru.set(roomId, entry);
    return entry;
  }
}

/** True when `userId` may read the room: anyone not banned from a public room, a member of any other. */
export function mayRead(state: RoomState, userId: UserId): boolean {
  if (!state.exists) return false;
  return state.kind === "public" ? !state.banned.has(userId) : state.members.has(userId);
}

/** True when `userId` may post in the room: it exists, is not archived, and they are a member. */
export function mayPost(state: RoomState, userId: UserId): boolean {
  return state.exists && !state.archived && state.members.has(userId);
}

/**
 * The subjects a room's events go to (docs/read-side.md): `live.room.<roomId>` for a public room
 * nobody is banned from; `deliver.<uid>.room.<roomId>` to each member of a private room, a DM, or
 * a public room with a ban in force (anyone may subscribe to `live.room.*`, a banned user too, so
 * such a room's events stop going there from the ban on); none for a room that does not exist.
 * Computed once per membership change.
 */
export function audienceOf(entry: RoomEntry): readonly string[] {
  if (entry.audience !== undefined) return entry.audience;
  const { state, roomId } = entry;
  if (!state.exists) entry.audience = [];
  else if (state.kind === "public" && state.banned.size === 0) entry.audience = [liveSubjects.room(roomId)];
  else entry.audience = Array.from(state.members.keys(), (uid) => liveSubjects.member(uid, roomId));
  return entry.audience;
}

import { EVENTS, type UserId } from "../../domain/index.ts";
import type { EventEnvelope, EventStore } from "../../streams/index.ts";
import { MessageMemory } from "./messageMemory.ts";
import { RoomCache, type RoomEntry } from "./roomCache.ts";
import { routesOf, type RouteContext, type Routes } from "./routes.ts";

/** The sizes of an EventRouter's caches. */
export type EventRouterSizes = {
  /** Room states (membership). */
  rooms: number;
  /** Posts (a thread root's author, an edit's mentions). */
  posts: number;
  /** Threads (their participants). */
  threads: number;
};

/**
 * Routes the stored events that the active fan-out reads in stream order: keeps its caches
 * current with each event (room states, posts, thread participants), reading from the log only
 * what is not cached, then answers where the event goes (routesOf). Call `route` one event at a
 * time, in order: a room missing from the cache is folded up to the event being routed, never
 * past it.
 */
export class EventRouter {
  readonly rooms: RoomCache;
  readonly posts: MessageMemory;

  constructor(
    store: EventStore,
    sizes: EventRouterSizes,
    onMiss: (cache: "rooms" | "posts") => void = () => undefined,
    /** Who replied in a thread before the router met it (see MessageMemory). */
    repliers?: (roomId: string, rootId: string) => Promise<readonly string[]>,
  ) {
    this.rooms = new RoomCache(store, sizes.rooms, () => onMiss("rooms"));
    this.posts = new MessageMemory(
      store,
      { posts: sizes.posts, threads: sizes.threads },
      () => onMiss("posts"),
      repliers,
    );
  }

  /** The room as of just before `beforeSeq` (the router's position + 1 for a caller outside the read). */
  async room(roomId: string, beforeSeq: number): Promise<RoomEntry> {
    return this.rooms.cached(roomId) ?? (await this.rooms.at(roomId, beforeSeq));
  }

  /** Folds the event into the caches and answers the subjects it goes to. */
  async route(env: EventEnvelope): Promise<Routes> {
    const e = env.event;
    const context: RouteContext = {};
    let replier: { participants: Set<UserId>; authorId: UserId } | undefined;
    const aggregate = EVENTS[e.type].aggregate;
    if (aggregate === "room") {
      context.room = await this.rooms.apply(env);
    } else if (aggregate === "msg") {
      const roomId = (e.data as { roomId: string }).roomId;
      context.room = await this.room(roomId, env.seq);
      if (e.type === "MessagePosted") {
        this.posts.posted(e.data);
        if (e.data.threadRootId !== undefined) {
          const participants = await this.posts.participants(roomId, e.data.threadRootId);
          context.threadParticipants = participants;
          replier = { participants, authorId: e.data.authorId };
        }
      } else if (e.type === "MessageEdited") {
        const post = await this.posts.post(roomId, e.data.messageId);
        if (post !== undefined) context.mentions = post.mentions;
      }
    }
    const routes = routesOf(env, context);
    // A replier follows the thread from now on; they are not sent their own reply.
    replier?.participants.add(replier.authorId);
    return routes;
  }
}

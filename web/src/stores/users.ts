import { createStore } from "solid-js/store";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Member } from "./rooms.ts";

/**
 * A readable stand-in for a user id with no known name: an `x_`-mapped sub decoded back (it is
 * the sub in hex), else the id's first 8 characters.
 *
 * @example fallbackName("x_616c696365") // "alice"
 * @example fallbackName("f81d4fae-7dec-11d0-a765-00a0c91e6bf6") // "user-f81d4fae"
 */
export function fallbackName(userId: string): string {
  if (userId.startsWith("x_") && /^[0-9a-f]+$/.test(userId.slice(2)) && userId.length % 2 === 0) {
    const bytes = new Uint8Array(
      userId
        .slice(2)
        .match(/../g)!
        .map((h) => parseInt(h, 16)),
    );
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes).replace(/[\s@]+.*$/, "");
    if (text !== "") return text;
  }
  return `user-${userId.slice(0, 8)}`;
}

/** How the users store asks the server for names: the `users` query by ids. */
export type NameSource = (
  userIds: readonly string[],
  minSeq: number,
) => Promise<readonly { userId: string; displayName: string }[]>;

/** Ids asked for in one `users` query at most (the query's limit). */
const IDS_PER_QUERY = 200;

/**
 * The users the client knows of (the members of the rooms it has opened, authors, people found)
 * and their names. A name comes from the server (room members, the people directory, and the
 * `users` query for any id shown without one: every place that shows a person asks `nameOf`, so
 * a person never seen before is named as soon as the answer comes) and from profile updates heard
 * live. The server's name is the one the person chose, else the one their identity gives.
 */
export function createUsers(deps: {
  me: string;
  /** The user's own name until the server says (the token's `preferred_username`). */
  myName: string;
  /** Where names of ids not yet named are asked (none: only what the stores are told). */
  names?: NameSource;
  /** The newest sequence heard live: a name asked for reflects at least that far. */
  seenSeq?: () => number;
}) {
  const [names, setNames] = createStore<Record<string, string>>({});
  const [known, setKnown] = createStore<Record<string, true>>({ [deps.me]: true });
  /** Ids asked for (or answered without a name): asked again only on resume or a live profile change. */
  const asked = new Set<string>();
  let queued: string[] = [];
  /** The newest profile event applied per user: the same event comes once per shared room. */
  const profileSeq = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const fetchNames = async (ids: readonly string[], minSeq: number): Promise<void> => {
    if (deps.names === undefined) return;
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const chunk = ids.slice(i, i + IDS_PER_QUERY);
      try {
        users.learnNamed(await deps.names(chunk, minSeq));
      } catch {
        // Asked again at the next resume.
        for (const id of chunk) asked.delete(id);
      }
    }
  };
  const ask = (userId: string): void => {
    if (deps.names === undefined || asked.has(userId)) return;
    asked.add(userId);
    queued.push(userId);
    // Every name the same render needs goes in one query.
    if (queued.length === 1) {
      track(
        Promise.resolve().then(() => {
          const ids = queued;
          queued = [];
          return fetchNames(ids, deps.seenSeq?.() ?? 0);
        }),
      );
    }
  };

  const users = {
    /** A user's name; for one not named yet, a readable stand-in while the server is asked. */
    nameOf: (userId: string): string => {
      const name = names[userId];
      if (name !== undefined) return name;
      ask(userId);
      return userId === deps.me ? deps.myName : fallbackName(userId);
    },
    /** Every user seen as a member of a room, the user included. */
    known: (): string[] => Object.keys(known),
    /** How a user is @mentioned: the display name with white space as `_` (`@Ann_Lee`). */
    handleOf: (userId: string): string => users.nameOf(userId).trim().replace(/\s+/g, "_"),
    /** Of `among`, the user @mentioned as `handle` (any case), if any. */
    byHandle(handle: string, among: readonly string[]): string | undefined {
      const lower = handle.toLowerCase();
      return among.find((id) => users.handleOf(id).toLowerCase() === lower);
    },
    /** Learns the members of a room. */
    learn(members: readonly Member[]): void {
      const add: Record<string, true> = {};
      const named: Record<string, string> = {};
      for (const m of members) {
        add[m.userId] = true;
        if (typeof m.displayName === "string" && m.displayName !== "") named[m.userId] = m.displayName;
      }
      setKnown(add);
      if (Object.keys(named).length > 0) setNames(named);
    },
    /** Learns people found in the directory, with their names. */
    learnNamed(found: readonly { userId: string; displayName: string }[]): void {
      for (const u of found) {
        if (known[u.userId] === undefined) setKnown(u.userId, true);
        if (u.displayName !== "") setNames(u.userId, u.displayName);
      }
    },
    /** Learns one user id (a message's author, a mention). */
    see(userId: string): void {
      if (known[userId] === undefined) setKnown(userId, true);
    },
    /** After a reconnect: asks again for the known users still without a name (changes may have been missed). */
    resume(): void {
      const unnamed = Object.keys(known).filter((id) => names[id] === undefined);
      for (const id of unnamed) asked.delete(id);
      for (const id of unnamed) ask(id);
    },
    /**
     * Applies `UserProfileUpdated` (the user's own on their notice subject, anyone's in the rooms
     * shared with them): a chosen name is the name; an identity name alone may be hidden by a chosen
     * one, so the server is asked for the name as of that event.
     */
    applyLive(e: LiveEvent): void {
      if (e.type !== "UserProfileUpdated") return;
      const userId = e.payload["userId"];
      if (typeof userId !== "string" || (profileSeq.get(userId) ?? 0) >= e.seq) return;
      profileSeq.set(userId, e.seq);
      const name = e.payload["displayName"];
      if (typeof name === "string" && name !== "") setNames(userId, name);
      else if (typeof e.payload["identityName"] === "string") track(fetchNames([userId], e.seq));
    },
    /** Resolves once the names asked for so far are answered (tests). */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
  return users;
}

export type Users = ReturnType<typeof createUsers>;

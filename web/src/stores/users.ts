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
    const bytes = new Uint8Array(userId.slice(2).match(/../g)!.map((h) => parseInt(h, 16)));
    const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes).replace(/[\s@]+.*$/, "");
    if (text !== "") return text;
  }
  return `user-${userId.slice(0, 8)}`;
}

/**
 * The users the client knows of (there is no user directory: the members of the rooms it has
 * opened) and their display names (from room members when the read API gives them, profile
 * updates heard live, and the user's own token).
 */
export function createUsers(deps: { me: string; myName: string }) {
  const [names, setNames] = createStore<Record<string, string>>({ [deps.me]: deps.myName });
  const [known, setKnown] = createStore<Record<string, true>>({ [deps.me]: true });

  const users = {
    /** A user's display name. */
    nameOf: (userId: string): string => names[userId] ?? fallbackName(userId),
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
    /** Applies `UserProfileUpdated` (the user's own profile, on their notice subject). */
    applyLive(e: LiveEvent): void {
      if (e.type !== "UserProfileUpdated") return;
      const userId = e.payload["userId"];
      const name = e.payload["displayName"];
      if (typeof userId === "string" && typeof name === "string" && name !== "") setNames(userId, name);
    },
  };
  return users;
}

export type Users = ReturnType<typeof createUsers>;

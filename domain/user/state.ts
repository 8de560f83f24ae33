import type { UserId } from "../ids.ts";

/** What the user decider knows of a user's profile; the name shown is `displayName ?? identityName`. */
export type UserState = {
  exists: boolean;
  userId: UserId | null;
  /** The name the user chose. */
  displayName: string | null;
  language: string | null;
  /** The name their identity gives (token `name` or `preferred_username`). */
  identityName: string | null;
};

/** The state of a user before any profile change. */
export function initialUserState(): UserState {
  return { exists: false, userId: null, displayName: null, language: null, identityName: null };
}

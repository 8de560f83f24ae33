import type { UserId } from "../ids.ts";

/** What the user decider knows of a user's profile. */
export type UserState = {
  exists: boolean;
  userId: UserId | null;
  displayName: string | null;
  language: string | null;
};

/** The state of a user before any profile change. */
export function initialUserState(): UserState {
  return { exists: false, userId: null, displayName: null, language: null };
}

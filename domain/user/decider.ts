import { assertNever, cleanName, type Decider } from "../decider.ts";
import { ForbiddenError } from "../errors.ts";
import type { UserCommand } from "./commands.ts";
import type { UserEvent } from "./events.ts";
import { initialUserState, type UserState } from "./state.ts";

/** Folds one user event into the state (in place). */
export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case "UserProfileUpdated":
      state.exists = true;
      state.userId = event.data.userId;
      if (event.data.displayName !== undefined) state.displayName = event.data.displayName;
      if (event.data.language !== undefined) state.language = event.data.language;
      if (event.data.identityName !== undefined) state.identityName = event.data.identityName;
      return state;
    default:
      return assertNever(event.type);
  }
}

/**
 * Decides a user command. Anyone signed in, with or without a realm role, sets their own profile
 * (the subject names the user, so no one sets another's); a change to the same values is a no-op.
 * The identity name is recorded only for natter's auth service, once per name: the same name
 * again, at every connect, is a no-op.
 */
export function decideUser(command: UserCommand, state: UserState): UserEvent[] {
  switch (command.type) {
    case "profile": {
      const displayName = command.data.displayName === undefined ? undefined : cleanName(command.data.displayName);
      const language = command.data.language;
      const changed =
        (displayName !== undefined && displayName !== state.displayName) ||
        (language !== undefined && language !== state.language);
      if (!changed) return [];
      const data: UserEvent["data"] = { userId: command.meta.actor };
      if (displayName !== undefined) data.displayName = displayName;
      if (language !== undefined) data.language = language;
      return [{ type: "UserProfileUpdated", data }];
    }
    case "identity": {
      // A user may not say what their identity is: only the auth service that checked the token does.
      if (command.meta.privilege !== "service")
        throw new ForbiddenError("only natter's auth service records a user's identity name");
      const identityName = cleanName(command.data.name);
      if (identityName === state.identityName) return [];
      return [{ type: "UserProfileUpdated", data: { userId: command.meta.actor, identityName } }];
    }
    default:
      return assertNever(command);
  }
}

/** The user aggregate: one user's profile and preferences. */
export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  initialState: initialUserState,
  evolve: evolveUser,
  decide: decideUser,
};

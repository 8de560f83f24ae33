import type { Presence } from "./presence.ts";
import type { Preferences } from "./session.ts";
import type { RunCommand } from "./toasts.ts";

/** The user's own settings: language, status and display name. */
export function createProfile(deps: { prefs: Preferences; presence: Presence; run: RunCommand }) {
  const { prefs, presence, run } = deps;
  return {
    /** Changes the user's language (their profile) and the page's. */
    async setLanguage(tag: string): Promise<void> {
      prefs.setLanguage(tag);
      await run("user.profile", { language: tag }).catch(() => undefined);
    },
    /** Changes the status the user announces. */
    setStatus(status: "online" | "away"): void {
      prefs.setStatus(status);
      presence.setChosen(status);
    },
    /** Sets the name the user chose, which everyone sees instead of the one their identity gives. */
    async setDisplayName(name: string): Promise<void> {
      await run("user.profile", { displayName: name });
    },
  };
}

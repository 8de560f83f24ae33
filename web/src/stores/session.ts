import { createSignal } from "solid-js";
import type { ChosenStatus } from "./presence.ts";

/** The colour theme: light, dark, or as the system says (prefers-color-scheme). */
export type Theme = "light" | "dark" | "system";

const THEMES: readonly Theme[] = ["light", "dark", "system"];
const KEY = "natter.preferences";

type Stored = { theme?: Theme; language?: string; status?: ChosenStatus };

/**
 * The user's preferences on this browser (localStorage): theme (applied to the page at once, as
 * `data-theme` on `<html>`), language (the user's profile language, also the page's `lang`) and
 * the status they chose.
 */
export function createPreferences(storage: Storage | undefined = globalThis.localStorage) {
  let stored: Stored = {};
  try {
    stored = JSON.parse(storage?.getItem(KEY) ?? "{}") as Stored;
  } catch {
    stored = {};
  }
  const [theme, setThemeSignal] = createSignal<Theme>(
    THEMES.includes(stored.theme as Theme) ? stored.theme! : "system",
  );
  const [language, setLanguageSignal] = createSignal<string>(stored.language ?? navigator.language ?? "en");
  const [status, setStatusSignal] = createSignal<ChosenStatus>(stored.status === "away" ? "away" : "online");

  const save = (): void => {
    try {
      storage?.setItem(KEY, JSON.stringify({ theme: theme(), language: language(), status: status() }));
    } catch {
      // Storage full or denied: the preference lasts for this page only.
    }
  };
  const apply = (): void => {
    const root = document.documentElement;
    if (theme() === "system") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", theme());
    root.lang = language();
  };
  apply();

  /** A setter that also stores the preferences and applies them to the page. */
  const saving =
    <T>(set: (v: () => T) => unknown) =>
    (v: T): void => {
      set(() => v);
      save();
      apply();
    };
  return {
    theme,
    language,
    status,
    setTheme: saving<Theme>(setThemeSignal),
    setLanguage: saving<string>(setLanguageSignal),
    setStatus: saving<ChosenStatus>(setStatusSignal),
  };
}

export type Preferences = ReturnType<typeof createPreferences>;

/** The languages offered in the user menu: BCP 47 tags and their names in themselves. */
export const LANGUAGES: readonly { tag: string; name: string }[] = Object.entries({
  en: "English",
  de: "Deutsch",
  es: "Español",
  fr: "Français",
  it: "Italiano",
  nl: "Nederlands",
  pl: "Polski",
  "pt-BR": "Português (Brasil)",
  sv: "Svenska",
  uk: "Українська",
  ja: "日本語",
  "zh-Hans": "中文（简体）",
}).map(([tag, name]) => ({ tag, name }));

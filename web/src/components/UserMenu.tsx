import { For, Show, createSignal, createUniqueId, onCleanup } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { LANGUAGES, type Theme } from "../stores/session.ts";
import { PresenceDot } from "./PresenceDot.tsx";

/** The user's menu: the name others see, status (online / away), language, theme, sign out. */
export function UserMenu() {
  const chat = useChat();
  const [open, setOpen] = createSignal(false);
  const panelId = createUniqueId();
  let button!: HTMLButtonElement;
  let panel: HTMLDivElement | undefined;

  const close = (refocus: boolean): void => {
    setOpen(false);
    if (refocus) button.focus();
  };
  const onDocClick = (e: MouseEvent): void => {
    if (!open()) return;
    const t = e.target as Node;
    if (!button.contains(t) && !(panel?.contains(t) ?? false)) close(false);
  };
  document.addEventListener("click", onDocClick);
  onCleanup(() => document.removeEventListener("click", onDocClick));

  const [nameDraft, setNameDraft] = createSignal("");
  const saveName = async (e: SubmitEvent): Promise<void> => {
    e.preventDefault();
    const name = nameDraft().trim();
    if (name === "" || name === chat.users.nameOf(chat.me)) return;
    await chat.setDisplayName(name).then(
      () => setNameDraft(""),
      () => undefined,
    );
  };

  const languages = () => {
    const tag = chat.prefs.language();
    return LANGUAGES.some((l) => l.tag === tag) ? LANGUAGES : [...LANGUAGES, { tag, name: tag }];
  };

  return (
    <div class="user-menu">
      <button
        ref={button}
        type="button"
        class="user-menu-button"
        aria-expanded={open()}
        aria-controls={panelId}
        aria-label={`Account menu for ${chat.users.nameOf(chat.me)}`}
        data-testid="user-menu-button"
        onClick={() => {
          setOpen(!open());
          if (open()) queueMicrotask(() => panel?.querySelector<HTMLElement>("input, select, button")?.focus());
        }}
      >
        <PresenceDot status={chat.presence.of(chat.me)} />
        <span class="user-name" data-testid="my-name">
          {chat.users.nameOf(chat.me)}
        </span>
      </button>
      <Show when={open()}>
        <div
          ref={panel}
          id={panelId}
          class="user-menu-panel"
          role="group"
          aria-label="Account"
          data-testid="user-menu"
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              e.stopPropagation();
              close(true);
            }
          }}
        >
          <form onSubmit={(e) => void saveName(e)}>
            <label class="field">
              <span>Display name</span>
              <input
                data-testid="display-name-input"
                maxLength={64}
                placeholder={chat.users.nameOf(chat.me)}
                value={nameDraft()}
                onInput={(e) => setNameDraft(e.currentTarget.value)}
              />
            </label>
            <button type="submit" data-testid="display-name-save" disabled={nameDraft().trim() === ""}>
              Save name
            </button>
          </form>
          <fieldset class="field">
            <legend>Status</legend>
            <label>
              <input
                type="radio"
                name="status"
                value="online"
                data-testid="status-online"
                checked={chat.presence.chosen() === "online"}
                onChange={() => chat.setStatus("online")}
              />{" "}
              Online
            </label>
            <label>
              <input
                type="radio"
                name="status"
                value="away"
                data-testid="status-away"
                checked={chat.presence.chosen() === "away"}
                onChange={() => chat.setStatus("away")}
              />{" "}
              Away
            </label>
          </fieldset>
          <label class="field">
            <span>Language</span>
            <select
              data-testid="language-select"
              value={chat.prefs.language()}
              onChange={(e) => void chat.setLanguage(e.currentTarget.value)}
            >
              <For each={languages()}>{(l) => <option value={l.tag}>{l.name}</option>}</For>
            </select>
          </label>
          <label class="field">
            <span>Theme</span>
            <select
              data-testid="theme-select"
              value={chat.prefs.theme()}
              onChange={(e) => chat.prefs.setTheme(e.currentTarget.value as Theme)}
            >
              <option value="system">System</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <button type="button" class="danger-outline" data-testid="logout-button" onClick={() => void chat.signOut()}>
            Sign out
          </button>
        </div>
      </Show>
    </div>
  );
}

import { For, Show, createEffect, createMemo, createSignal, onCleanup } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { PresenceDot } from "./PresenceDot.tsx";

/**
 * Finds users by name among those the client knows and in the people directory (`/api/users`,
 * asked as the user types), to pick one (`onPick`) or several (`selected` + `onToggle`).
 */
export function UserPicker(props: {
  label: string;
  exclude?: readonly string[];
  selected?: readonly string[];
  onToggle?: (userId: string) => void;
  onPick?: (userId: string) => void;
  actionLabel?: string;
  testId: string;
}) {
  const chat = useChat();
  const [q, setQ] = createSignal("");
  createEffect(() => {
    const text = q().trim();
    if (text === "") return;
    const timer = setTimeout(() => {
      chat.server.users(text).then(
        (r) => chat.users.learnNamed(r.users),
        () => undefined,
      );
    }, 150);
    onCleanup(() => clearTimeout(timer));
  });
  const matches = createMemo(() => {
    const f = q().trim().toLowerCase();
    const exclude = new Set([chat.me, ...(props.exclude ?? [])]);
    return chat.users
      .known()
      .filter((id) => !exclude.has(id))
      .map((id) => ({ id, name: chat.users.nameOf(id) }))
      .filter((u) => f === "" || u.name.toLowerCase().includes(f) || u.id.toLowerCase().startsWith(f))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, 50);
  });
  return (
    <div class="user-picker" data-testid={props.testId}>
      <label class="field">
        <span>{props.label}</span>
        <input
          type="search"
          data-testid="user-search-input"
          placeholder="Search people by name"
          value={q()}
          onInput={(e) => setQ(e.currentTarget.value)}
        />
      </label>
      <Show when={matches().length > 0} fallback={<p class="muted small-text">No one found by that name.</p>}>
        <ul class="user-list">
          <For each={matches()}>
            {(u) => (
              <li class="user-result" data-testid="user-result" data-user-id={u.id}>
                <Show
                  when={props.onPick}
                  fallback={
                    <label class="user-row">
                      <input
                        type="checkbox"
                        checked={props.selected?.includes(u.id) ?? false}
                        onChange={() => props.onToggle?.(u.id)}
                      />
                      <PresenceDot status={chat.presence.of(u.id)} />
                      <span>{u.name}</span>
                    </label>
                  }
                >
                  {(pick) => (
                    <button
                      type="button"
                      class="user-row"
                      aria-label={`${props.actionLabel ?? "Choose"} ${u.name}`}
                      onClick={() => pick()(u.id)}
                    >
                      <PresenceDot status={chat.presence.of(u.id)} />
                      <span>{u.name}</span>
                    </button>
                  )}
                </Show>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </div>
  );
}

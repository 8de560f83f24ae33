import { For, Match, Switch, createMemo, createSignal, onMount } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { Dialog } from "./Dialog.tsx";

/** The public directory: filter by name or topic, open a room to read it, join it. */
export function RoomDirectory(props: { onClose: () => void }) {
  const chat = useChat();
  const [filter, setFilter] = createSignal("");
  onMount(() => void chat.rooms.loadDirectory());
  const shown = createMemo(() => {
    const f = filter().trim().toLowerCase();
    return chat.rooms.state.directory.filter(
      (r) => f === "" || r.name.toLowerCase().includes(f) || r.topic.toLowerCase().includes(f),
    );
  });
  const open = (roomId: string): void => {
    props.onClose();
    chat.router.go({ view: "room", roomId });
  };
  return (
    <Dialog title="Browse rooms" onClose={props.onClose} testId="room-directory" wide>
      <label class="field">
        <span>Filter</span>
        <input
          type="search"
          data-testid="directory-filter"
          value={filter()}
          onInput={(e) => setFilter(e.currentTarget.value)}
          placeholder="Name or topic"
        />
      </label>
      <Switch>
        <Match when={chat.rooms.state.directoryStatus === "loading" && chat.rooms.state.directory.length === 0}>
          <p class="muted" role="status">
            Loading rooms…
          </p>
        </Match>
        <Match when={chat.rooms.state.directoryStatus === "error"}>
          <p role="alert">The directory could not be loaded.</p>
        </Match>
        <Match when={shown().length === 0}>
          <p class="muted">No public rooms{filter() === "" ? " yet" : " match"}.</p>
        </Match>
        <Match when={true}>
          <ul class="directory-list">
            <For each={shown()}>
              {(r) => {
                const member = () => chat.rooms.mine(r.roomId) !== undefined;
                return (
                  <li class="directory-room" data-testid="directory-room" data-room-id={r.roomId}>
                    <button
                      type="button"
                      class="directory-open"
                      data-testid="open-room"
                      aria-label={`Open ${r.name}`}
                      onClick={() => open(r.roomId)}
                    >
                      <span class="directory-room-name"># {r.name}</span>
                      <span class="muted small-text">
                        {r.memberCount} member{r.memberCount === 1 ? "" : "s"}
                        {r.topic !== "" ? ` · ${r.topic}` : ""}
                      </span>
                    </button>
                    <div class="directory-room-actions">
                      {!member() && chat.hasRealmRole ? (
                        <button
                          type="button"
                          class="primary small"
                          data-testid="join-room"
                          aria-label={`Join ${r.name}`}
                          onClick={() =>
                            void chat.join(r.roomId).then(
                              () => open(r.roomId),
                              () => undefined,
                            )
                          }
                        >
                          Join
                        </button>
                      ) : member() ? (
                        <span class="muted small-text">Joined</span>
                      ) : null}
                    </div>
                  </li>
                );
              }}
            </For>
          </ul>
        </Match>
      </Switch>
    </Dialog>
  );
}

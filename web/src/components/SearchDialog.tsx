import { For, Show, createResource, createSignal } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { Loaded } from "./async.tsx";
import { Dialog } from "./Dialog.tsx";

/**
 * A search hit's highlight as safe HTML: the read API escapes the text and marks matches with
 * `<mark>`; any other tag (there should be none) is dropped all the same.
 */
export function safeHighlight(highlight: string): string {
  return highlight.replace(/<(?!\/?mark>)[^>]*>?/gi, "");
}

/** Search results: each hit in its room with the matches marked; choosing one opens the room at it. */
export function SearchDialog(props: { query: string; onClose: () => void }) {
  const chat = useChat();
  const [query, setQuery] = createSignal(props.query);
  const [asked, setAsked] = createSignal(props.query);
  const [results] = createResource(asked, (q) => chat.server.search(q));
  const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return (
    <Dialog title="Search" onClose={props.onClose} testId="search-results" wide>
      <form
        class="form inline-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (query().trim() !== "") setAsked(query().trim());
        }}
      >
        <label class="field">
          <span>Search messages</span>
          <input
            type="search"
            data-testid="search-dialog-input"
            maxLength={200}
            value={query()}
            onInput={(e) => setQuery(e.currentTarget.value)}
          />
        </label>
        <button type="submit">Search</button>
      </form>
      <Loaded resource={results} failed="The search failed:" loading="Searching…">
        {(r) => (
          <Show
            when={r().hits.length > 0}
            fallback={
              <p class="muted" role="status">
                Nothing found for “{asked()}”.
              </p>
            }
          >
            <p class="sr-only" role="status">
              {r().hits.length} result{r().hits.length === 1 ? "" : "s"}
            </p>
            <ul class="search-list">
              <For each={r().hits}>
                {(hit) => (
                  <li>
                    <button
                      type="button"
                      class="search-hit"
                      data-testid="search-hit"
                      data-room-id={hit.roomId}
                      data-message-id={hit.messageId}
                      onClick={() => {
                        props.onClose();
                        chat.router.go({ view: "room", roomId: hit.roomId, messageId: hit.messageId });
                      }}
                    >
                      <span class="search-hit-meta">
                        <strong>{chat.users.nameOf(hit.authorId)}</strong>
                        <span class="muted">
                          {" "}
                          in {chat.roomName(hit.roomId) || "a room"} · {when(hit.postedAt)}
                        </span>
                      </span>
                      <span class="search-hit-text" innerHTML={safeHighlight(hit.highlight)} />
                    </button>
                  </li>
                )}
              </For>
            </ul>
          </Show>
        )}
      </Loaded>
    </Dialog>
  );
}

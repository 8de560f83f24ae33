import { For, Show, createEffect, createMemo, createSignal, createUniqueId, on } from "solid-js";
import { mentionCandidates } from "../markdown.ts";
import { useChat } from "../stores/chat.ts";
import type { TimelineMessage } from "../stores/timeline.ts";
import type { Ui } from "../stores/ui.ts";

/** How many characters before the limit the counter appears. */
const COUNTER_FROM = 500;
/** The most people one message may mention (the server's limit). */
const MAX_MENTIONS = 50;
/** Drafts by room (and thread), kept while the page lives. */
const drafts = new Map<string, string>();

/**
 * The `@handle` being typed just before the caret, if any: `{ start, query }` where `start` is the
 * index of the `@`.
 *
 * @example mentionQuery("hi @al", 6) // { start: 3, query: "al" }
 */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const m = /(?:^|[^\p{L}\p{N}_.@+-])@([\p{L}\p{N}_.-]{0,64})$/u.exec(text.slice(0, caret));
  if (m === null) return null;
  return { start: caret - m[1]!.length - 1, query: m[1]! };
}

/**
 * The message composer of a room or a thread: Enter sends, Shift+Enter starts a new line, Up in an
 * empty composer edits the user's last message, `@` completes the names of the room's members, a
 * counter appears before the length limit; where the user may not post it shows why instead (with
 * Join for a public room they can join).
 */
export function Composer(props: {
  roomId: string;
  /** Where it is: the room's timeline or the open thread (which edit it takes). */
  where: "room" | "thread";
  /** Which draft it keeps (default: one per room and place). */
  draftKey?: string;
  /** The accessible name of the text box. */
  label: string;
  placeholder: string;
  send: (body: string, mentions: string[]) => void;
  /** The room's members (for @ completion and mentions). */
  members: readonly string[];
  /** The messages it edits among (the last own one for Up). */
  messages: readonly TimelineMessage[];
  ui: Ui;
}) {
  const chat = useChat();
  const max = chat.config.maxBody;
  const draftKey = () => props.draftKey ?? `${props.where}:${props.roomId}`;
  const [text, setText] = createSignal(drafts.get(draftKey()) ?? "");
  const [caret, setCaret] = createSignal(0);
  const [active, setActive] = createSignal(0);
  const [dismissed, setDismissed] = createSignal<number | null>(null);
  const listId = createUniqueId();
  const counterId = createUniqueId();
  let box: HTMLTextAreaElement | undefined;

  const block = () => chat.postBlock(props.roomId);
  const editingId = () => {
    const e = props.ui.editing();
    return e !== null && e.roomId === props.roomId && e.where === props.where ? e.messageId : null;
  };
  const update = (value: string): void => {
    setText(value);
    drafts.set(draftKey(), value);
  };

  // Another room: its own draft; an edit asked for (Up, or the message's Edit): its body.
  createEffect(on(draftKey, (key) => setText(drafts.get(key) ?? ""), { defer: true }));
  createEffect(
    on(editingId, (id) => {
      if (id === null) return;
      const m = props.messages.find((x) => x.messageId === id);
      if (m === undefined) return;
      update(m.body);
      queueMicrotask(() => {
        box?.focus();
        box?.setSelectionRange(m.body.length, m.body.length);
      });
    }),
  );

  const query = createMemo(() => {
    const q = mentionQuery(text(), caret());
    return q !== null && q.start !== dismissed() ? q : null;
  });
  const suggestions = createMemo(() => {
    const q = query();
    if (q === null) return [];
    const lower = q.query.toLowerCase();
    return props.members
      .filter((id) => id !== chat.me && chat.users.handleOf(id).toLowerCase().startsWith(lower))
      .sort((a, b) => chat.users.handleOf(a).localeCompare(chat.users.handleOf(b)))
      .slice(0, 8);
  });
  createEffect(on(suggestions, () => setActive(0)));

  const complete = (userId: string): void => {
    const q = query();
    if (q === null) return;
    const handle = chat.users.handleOf(userId);
    const before = text().slice(0, q.start);
    const after = text().slice(caret());
    const inserted = `@${handle} `;
    update(before + inserted + after.replace(/^\s/, ""));
    const at = before.length + inserted.length;
    queueMicrotask(() => {
      box?.focus();
      box?.setSelectionRange(at, at);
      setCaret(at);
    });
  };

  const length = () => text().length;
  const over = () => length() > max;
  const empty = () => text().trim() === "";

  const mentionsIn = (body: string): string[] => {
    const ids = new Set<string>();
    for (const handle of mentionCandidates(body)) {
      const id = chat.users.byHandle(handle, props.members);
      if (id !== undefined && id !== chat.me) ids.add(id);
    }
    return [...ids].slice(0, MAX_MENTIONS);
  };

  const cancelEdit = (): void => {
    props.ui.setEditing(null);
    update("");
  };

  const submit = (): void => {
    if (empty() || over() || block() !== null) return;
    const body = text();
    const editing = editingId();
    if (editing !== null) {
      const original = props.messages.find((m) => m.messageId === editing);
      props.ui.setEditing(null);
      update("");
      if (original !== undefined && original.body !== body)
        void chat.edit(props.roomId, editing, body).catch(() => undefined);
      return;
    }
    props.send(body, mentionsIn(body));
    update("");
    chat.typing.stopped(props.roomId);
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    const list = suggestions();
    if (list.length > 0) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setActive((i) => (i + (e.key === "ArrowDown" ? 1 : list.length - 1)) % list.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        complete(list[active()]!);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        setDismissed(query()?.start ?? null);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
      return;
    }
    if (e.key === "ArrowUp" && text() === "" && editingId() === null) {
      const own = [...props.messages]
        .reverse()
        .find((m) => m.authorId === chat.me && !m.deleted && m.pending !== true && m.failed !== true);
      if (own !== undefined) {
        e.preventDefault();
        props.ui.setEditing({ roomId: props.roomId, messageId: own.messageId, where: props.where });
      }
      return;
    }
    if (e.key === "Escape" && editingId() !== null) {
      e.preventDefault();
      e.stopPropagation();
      cancelEdit();
    }
  };

  return (
    <div class="composer" data-testid={props.where === "room" ? "composer" : "thread-composer"}>
      <Show when={editingId() !== null}>
        <div class="composer-editing" data-testid="composer-editing">
          <span>Editing message</span>
          <button type="button" class="link" onClick={cancelEdit}>
            Cancel (Esc)
          </button>
        </div>
      </Show>
      <Show
        when={block() === null}
        fallback={
          <div class="composer-blocked" data-testid="composer-blocked" role="note">
            <span>{block()?.reason}</span>
            <Show when={block()?.canJoin === true}>
              <button
                type="button"
                class="primary small"
                data-testid="join-room"
                onClick={() => void chat.join(props.roomId).catch(() => undefined)}
              >
                Join
              </button>
            </Show>
          </div>
        }
      >
        <div class="composer-row">
          <div class="composer-field">
            <textarea
              ref={box}
              class="composer-input"
              data-testid={props.where === "room" ? "composer-input" : "thread-composer-input"}
              aria-label={props.label}
              placeholder={props.placeholder}
              rows={1}
              aria-describedby={length() >= max - COUNTER_FROM ? counterId : undefined}
              aria-autocomplete="list"
              aria-controls={suggestions().length > 0 ? listId : undefined}
              aria-activedescendant={suggestions().length > 0 ? `${listId}-${active()}` : undefined}
              aria-invalid={over()}
              value={text()}
              onInput={(e) => {
                update(e.currentTarget.value);
                setCaret(e.currentTarget.selectionStart);
                setDismissed(null);
                if (e.currentTarget.value.trim() !== "" && editingId() === null) chat.typing.typed(props.roomId);
              }}
              onKeyDown={onKeyDown}
              onKeyUp={(e) => setCaret(e.currentTarget.selectionStart)}
              onClick={(e) => setCaret(e.currentTarget.selectionStart)}
            />
            <Show when={suggestions().length > 0}>
              <ul
                id={listId}
                class="mention-list"
                role="listbox"
                aria-label="People to mention"
                data-testid="mention-suggestions"
              >
                <For each={suggestions()}>
                  {(id, i) => (
                    <li
                      id={`${listId}-${i()}`}
                      role="option"
                      class="mention-option"
                      aria-selected={i() === active()}
                      data-testid="mention-option"
                      onMouseDown={(e) => {
                        e.preventDefault();
                        complete(id);
                      }}
                    >
                      @{chat.users.handleOf(id)}
                    </li>
                  )}
                </For>
              </ul>
            </Show>
          </div>
          <button
            type="button"
            class="primary send-button"
            data-testid="send-button"
            aria-label={editingId() !== null ? "Save edit" : "Send message"}
            disabled={empty() || over()}
            onClick={submit}
          >
            {editingId() !== null ? "Save" : "Send"}
          </button>
        </div>
        <Show when={length() >= max - COUNTER_FROM}>
          <p
            id={counterId}
            class="composer-counter"
            classList={{ over: over() }}
            data-testid="composer-counter"
            aria-live="polite"
          >
            {over()
              ? `${length() - max} characters too long (${length()} / ${max})`
              : `${length()} / ${max} characters`}
          </p>
        </Show>
      </Show>
    </div>
  );
}

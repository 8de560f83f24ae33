/**
 * One message of the timeline: author line (unless grouped), the body as sanitized HTML, the edited
 * marker, the deleted placeholder, the optimistic states, reactions with their picker, the thread
 * reply count and the actions toolbar. Props are read through `props.` (never destructured) so
 * every part follows the message as its store changes.
 */
import { For, Show, createEffect, createMemo, createSignal } from "solid-js";
import {
  PICKER_EMOJI,
  fullTimeLabel,
  isUnconfirmed,
  repliesLabel,
  timeLabel,
  type TimelineMessage,
} from "./timelineRows.ts";

/** What a message needs from the room: who the user is, names, permissions and the callbacks. */
export type MessageActions = {
  /** The signed-in user's id. */
  me: string;
  /** A user's display name. */
  nameOf(userId: string): string;
  /** Whether the user may delete others' messages in this room. */
  canModerate: boolean;
  /** The body as sanitized HTML: the only way a body reaches the DOM. */
  renderBody(body: string): string;
  onReact(messageId: string, emoji: string): void;
  onUnreact(messageId: string, emoji: string): void;
  onReply(messageId: string): void;
  onEdit(messageId: string): void;
  onDelete(messageId: string): void;
  onRetry(clientId: string): void;
  onShowHistory(messageId: string): void;
  onShowReadBy(messageId: string): void;
};

export type MessageItemProps = {
  message: TimelineMessage;
  actions: MessageActions;
  /** Shown under the previous message's author line: no author, time only on hover. */
  grouped: boolean;
  /** Position among the loaded messages (1-based) and their number (-1: more are not loaded), for assistive technology. */
  position: number;
  total: number;
  /** Holds the roving tab stop of the list. */
  active: boolean;
  /** Briefly highlighted (a jump to this message). */
  highlighted: boolean;
  /** The actions toolbar is open (Enter on the message). */
  actionsOpen: boolean;
  setActionsOpen(open: boolean): void;
};

/** The message element, `role="article"` with `data-message-id` and an accessible name. */
export function MessageItem(props: MessageItemProps) {
  const [hot, setHot] = createSignal(false);
  const [picking, setPicking] = createSignal(false);
  let article!: HTMLElement;

  const m = () => props.message;
  const own = () => m().authorId === props.actions.me;
  const author = () => props.actions.nameOf(m().authorId);
  const live = () => !m().deleted && !isUnconfirmed(m());
  const fullTime = createMemo(() => fullTimeLabel(m().postedAt));
  const label = () => `${author()}, ${fullTime()}`;
  const html = createMemo(() => (m().deleted ? "" : props.actions.renderBody(m().body)));
  // The controls inside a message are Tab stops only in the message holding the list's tab stop,
  // so Tab goes from the header to the timeline's one message and on to the composer.
  const inner = () => (props.active ? 0 : -1);
  let body: HTMLDivElement | undefined;
  // The same for what the body's HTML brings: links, and code blocks (the browser makes a block
  // that scrolls a stop); in the active message they are stops as the browser has them.
  createEffect(() => {
    const active = props.active;
    html();
    for (const el of body?.querySelectorAll<HTMLElement>("a, pre") ?? []) {
      if (active) el.removeAttribute("tabindex");
      else el.tabIndex = -1;
    }
  });

  const toggle = (emoji: string) => {
    const r = m().reactions.find((x) => x.emoji === emoji);
    if (r?.userIds.includes(props.actions.me)) props.actions.onUnreact(m().messageId, emoji);
    else props.actions.onReact(m().messageId, emoji);
  };

  const closeActions = () => {
    setPicking(false);
    props.setActionsOpen(false);
    article.focus();
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape" && (props.actionsOpen || picking())) {
      e.preventDefault();
      e.stopPropagation();
      closeActions();
      return;
    }
    if (e.target !== article || e.key !== "Enter" || !live()) return;
    e.preventDefault();
    props.setActionsOpen(true);
    // The toolbar renders on this change; focus its first button once it is there.
    queueMicrotask(() => article.querySelector<HTMLElement>(".tl-actions button")?.focus());
  };

  // Arrows move along the row of buttons the focused one is in: the toolbar's, or the picker's.
  const onToolbarKey = (e: KeyboardEvent) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const target = e.target as HTMLElement;
    const buttons =
      target.parentElement === null ? [] : [...target.parentElement.querySelectorAll<HTMLElement>(":scope > button")];
    const at = buttons.indexOf(target);
    if (at < 0) return;
    e.preventDefault();
    const next = (at + (e.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length;
    buttons[next]?.focus();
  };

  const onFocusOut = (e: FocusEvent) => {
    if (article.contains(e.relatedTarget as Node | null)) return;
    setHot(false);
    setPicking(false);
    if (props.actionsOpen) props.setActionsOpen(false);
  };

  return (
    <article
      ref={article}
      class="tl-msg"
      classList={{
        "tl-grouped": props.grouped,
        "tl-own": own(),
        "tl-pending": m().pending === true,
        "tl-failed": m().failed === true,
        "tl-deleted": m().deleted,
        "tl-highlight": props.highlighted,
        "tl-open": props.actionsOpen,
      }}
      data-message-id={m().messageId}
      aria-label={label()}
      aria-posinset={props.position}
      aria-setsize={props.total}
      tabIndex={props.active ? 0 : -1}
      onPointerEnter={() => setHot(true)}
      onPointerLeave={() => article.contains(document.activeElement) || setHot(false)}
      onFocusIn={() => setHot(true)}
      onFocusOut={onFocusOut}
      onKeyDown={onKeyDown}
    >
      <Show
        when={!props.grouped}
        fallback={
          <time class="tl-side-time" dateTime={m().postedAt} title={fullTime()}>
            {timeLabel(m().postedAt)}
          </time>
        }
      >
        <header class="tl-head">
          <span class="tl-author">{author()}</span>
          <time class="tl-time" dateTime={m().postedAt} title={fullTime()}>
            {timeLabel(m().postedAt)}
          </time>
        </header>
      </Show>
      <Show when={!m().deleted} fallback={<p class="tl-placeholder">This message was deleted</p>}>
        <div ref={body} class="tl-body" innerHTML={html()} />
        <Show when={m().editedAt !== null}>
          <button
            type="button"
            class="tl-edited"
            title="Show edit history"
            tabIndex={inner()}
            onClick={() => props.actions.onShowHistory(m().messageId)}
          >
            (edited)
          </button>
        </Show>
      </Show>
      <Show when={m().pending === true && m().failed !== true}>
        <p class="tl-status" role="status">
          Sending…
        </p>
      </Show>
      <Show when={m().failed === true}>
        <p class="tl-status tl-status-failed" role="alert">
          Not sent —{" "}
          <button
            type="button"
            class="tl-retry"
            tabIndex={inner()}
            onClick={() => props.actions.onRetry(m().clientId ?? m().messageId)}
          >
            Retry
          </button>
        </p>
      </Show>
      <Show when={!m().deleted && m().reactions.length > 0}>
        <div class="tl-reactions" role="group" aria-label="Reactions">
          <For each={m().reactions}>
            {(r) => {
              const mine = () => r.userIds.includes(props.actions.me);
              return (
                <button
                  type="button"
                  class="tl-reaction"
                  aria-pressed={mine()}
                  aria-label={`${r.emoji} ${r.count}${mine() ? ", including you" : ""}`}
                  title={r.userIds.map((u) => props.actions.nameOf(u)).join(", ")}
                  disabled={!live()}
                  tabIndex={inner()}
                  onClick={() => toggle(r.emoji)}
                >
                  <span class="tl-reaction-emoji">{r.emoji}</span>
                  <span class="tl-reaction-count">{r.count}</span>
                </button>
              );
            }}
          </For>
        </div>
      </Show>
      <Show when={m().replyCount > 0}>
        <button
          type="button"
          class="tl-replies"
          tabIndex={inner()}
          onClick={() => props.actions.onReply(m().messageId)}
        >
          {repliesLabel(m().replyCount)}
        </button>
      </Show>
      <Show when={live() && (hot() || props.actionsOpen)}>
        <div class="tl-actions" role="toolbar" aria-label="Message actions" onKeyDown={onToolbarKey}>
          <button
            type="button"
            aria-label="Add reaction"
            title="Add reaction"
            aria-expanded={picking()}
            onClick={() => {
              setPicking(!picking());
              // The picker renders on this change: its first emoji takes focus (Escape goes back to the message).
              if (picking()) queueMicrotask(() => article.querySelector<HTMLElement>(".tl-pick")?.focus());
            }}
          >
            ☺
          </button>
          <button
            type="button"
            aria-label="Reply in thread"
            title="Reply in thread"
            onClick={() => props.actions.onReply(m().messageId)}
          >
            ↩
          </button>
          <Show when={own()}>
            <button
              type="button"
              aria-label="Edit message"
              title="Edit"
              onClick={() => props.actions.onEdit(m().messageId)}
            >
              ✎
            </button>
          </Show>
          <Show when={own() || props.actions.canModerate}>
            <button
              type="button"
              aria-label="Delete message"
              title="Delete"
              onClick={() => props.actions.onDelete(m().messageId)}
            >
              🗑
            </button>
          </Show>
          <button
            type="button"
            aria-label="Seen by"
            title="Seen by"
            onClick={() => props.actions.onShowReadBy(m().messageId)}
          >
            ✓
          </button>
          <Show when={picking()}>
            <div class="tl-picker" role="group" aria-label="Pick a reaction">
              <For each={PICKER_EMOJI}>
                {(emoji) => (
                  <button
                    type="button"
                    class="tl-pick"
                    aria-label={`React with ${emoji}`}
                    onClick={() => {
                      toggle(emoji);
                      closeActions();
                    }}
                  >
                    {emoji}
                  </button>
                )}
              </For>
            </div>
          </Show>
        </div>
      </Show>
    </article>
  );
}

import { Match, Show, Switch, createMemo, onMount } from "solid-js";
import { useChat } from "../stores/chat.ts";
import type { Thread } from "../stores/thread.ts";
import type { Ui } from "../stores/ui.ts";
import { Composer } from "./Composer.tsx";
import { useMessageActions } from "./RoomView.tsx";
import { Timeline } from "./Timeline.tsx";

/** No unread separator in a thread. */
const NO_SEPARATOR = Number.MAX_SAFE_INTEGER;

/** The open thread beside the room: its root and replies, and a composer for replies. */
export function ThreadPanel(props: { thread: Thread; ui: Ui }) {
  const chat = useChat();
  let panel!: HTMLElement;
  const actions = useMessageActions(
    () => props.thread.roomId,
    "thread",
    props.ui,
    (clientId) => void props.thread.sender.retry(clientId),
  );
  const members = createMemo(() => (chat.rooms.state.details[props.thread.roomId]?.members ?? []).map((m) => m.userId));
  const focusComposer = (): void => panel.querySelector<HTMLTextAreaElement>("textarea")?.focus();
  onMount(() => queueMicrotask(focusComposer));
  const close = (): void => {
    chat.closeThread();
    document.querySelector<HTMLTextAreaElement>('[data-testid="composer-input"]')?.focus();
  };
  return (
    <aside
      ref={panel}
      class="thread-panel"
      aria-label="Thread"
      data-testid="thread-panel"
      data-root-id={props.thread.rootId}
      onKeyDown={(e) => {
        if (e.key === "Escape" && !e.defaultPrevented) close();
      }}
    >
      <header class="thread-header">
        <h2>Thread</h2>
        <span class="muted small-text">
          {(() => {
            const n = props.thread.root()?.replyCount ?? 0;
            return `${n} repl${n === 1 ? "y" : "ies"}`;
          })()}
        </span>
        <button type="button" class="icon-button" aria-label="Close thread" data-testid="close-thread" onClick={close}>
          ×
        </button>
      </header>
      <Switch>
        <Match when={props.thread.state.status === "error"}>
          <p class="room-error" role="alert">
            This thread could not be loaded.
          </p>
        </Match>
        <Match when={props.thread.state.status === "loading" && props.thread.messages().length === 0}>
          <p class="muted" role="status">
            Loading thread…
          </p>
        </Match>
        <Match when={true}>
          <div class="thread-timeline">
            <Timeline
              messages={props.thread.messages()}
              me={actions.me}
              nameOf={actions.nameOf}
              lastReadSeq={NO_SEPARATOR}
              hasOlder={false}
              loadOlder={() => Promise.resolve()}
              canModerate={actions.canModerate}
              renderBody={actions.renderBody}
              onReact={actions.onReact}
              onUnreact={actions.onUnreact}
              onReply={focusComposer}
              onEdit={actions.onEdit}
              onDelete={actions.onDelete}
              onRetry={actions.onRetry}
              onShowHistory={actions.onShowHistory}
              onShowReadBy={actions.onShowReadBy}
              onVisibleLatest={() => undefined}
            />
          </div>
        </Match>
      </Switch>
      <Show when={props.thread.root()?.deleted !== true}>
        <Composer
          roomId={props.thread.roomId}
          where="thread"
          draftKey={`thread:${props.thread.roomId}:${props.thread.rootId}`}
          label="Reply in thread"
          placeholder="Reply…"
          send={(body, mentions) => void props.thread.sender.send(body, mentions)}
          members={members()}
          messages={props.thread.messages()}
          ui={props.ui}
        />
      </Show>
    </aside>
  );
}

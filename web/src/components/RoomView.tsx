import { Match, Show, Switch, createEffect, createMemo, createSignal, on } from "solid-js";
import { renderMarkdown } from "../markdown.ts";
import { useChat } from "../stores/chat.ts";
import type { Timeline as TimelineStore } from "../stores/timeline.ts";
import type { Ui } from "../stores/ui.ts";
import { Composer } from "./Composer.tsx";
import { Timeline } from "./Timeline.tsx";

/** No unread separator: for a room the user is not a member of. */
const NO_SEPARATOR = Number.MAX_SAFE_INTEGER;

/** Who else is typing in a room, for a few seconds after they last typed. */
export function TypingIndicator(props: { roomId: string }) {
  const chat = useChat();
  const text = () => {
    const names = chat.typing.typingIn(props.roomId).map((id) => chat.users.nameOf(id));
    if (names.length === 0) return "";
    if (names.length === 1) return `${names[0]} is typing…`;
    if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
    return `${names.length} people are typing…`;
  };
  return (
    <div class="typing-indicator" data-testid="typing-indicator" data-typing={text() !== "" ? "yes" : "no"}>
      {text()}
    </div>
  );
}

/**
 * The handlers the timeline component takes for one room's messages (the room's and the thread's
 * timelines share them). Rendering a body goes through the Markdown sanitizer, with the room's
 * members' handles as mentions.
 */
export function useMessageActions(
  roomId: () => string,
  where: "room" | "thread",
  ui: Ui,
  retry: (clientId: string) => void,
) {
  const chat = useChat();
  const handles = createMemo(
    () =>
      new Set(
        (chat.rooms.state.details[roomId()]?.members ?? []).map((m) => chat.users.handleOf(m.userId).toLowerCase()),
      ),
  );
  const find = (messageId: string) =>
    chat.timeline(roomId()).find(messageId) ??
    chat
      .thread()
      ?.messages()
      .find((m) => m.messageId === messageId);
  return {
    get me() {
      return chat.me;
    },
    nameOf: (userId: string) => chat.users.nameOf(userId),
    get canModerate() {
      return chat.canModerate(roomId());
    },
    renderBody: (body: string) => renderMarkdown(body, { isMention: (name) => handles().has(name.toLowerCase()) }),
    onReact: (messageId: string, emoji: string) => void chat.react(roomId(), messageId, emoji),
    onUnreact: (messageId: string, emoji: string) => void chat.unreact(roomId(), messageId, emoji),
    onReply: (messageId: string) => chat.openThread(roomId(), messageId),
    onEdit: (messageId: string) => ui.setEditing({ roomId: roomId(), messageId, where }),
    onDelete: (messageId: string) =>
      ui.open({ kind: "confirmDelete", roomId: roomId(), messageId, authorId: find(messageId)?.authorId ?? "" }),
    onRetry: retry,
    onShowHistory: (messageId: string) => ui.open({ kind: "history", roomId: roomId(), messageId }),
    onShowReadBy: (messageId: string) => ui.open({ kind: "readBy", roomId: roomId(), messageId }),
  };
}

function RoomTimeline(props: {
  timeline: TimelineStore;
  roomId: string;
  messageId: string | undefined;
  lastReadSeq: number;
  ui: Ui;
}) {
  const chat = useChat();
  const actions = useMessageActions(
    () => props.roomId,
    "room",
    props.ui,
    (clientId) => void props.timeline.sender.retry(clientId),
  );
  return (
    <Timeline
      messages={props.timeline.messages()}
      me={actions.me}
      nameOf={actions.nameOf}
      lastReadSeq={props.lastReadSeq}
      hasOlder={props.timeline.state.hasOlder}
      loadOlder={() => props.timeline.loadOlder()}
      canModerate={actions.canModerate}
      jumpTo={props.messageId}
      renderBody={actions.renderBody}
      onReact={actions.onReact}
      onUnreact={actions.onUnreact}
      onReply={actions.onReply}
      onEdit={actions.onEdit}
      onDelete={actions.onDelete}
      onRetry={actions.onRetry}
      onShowHistory={actions.onShowHistory}
      onShowReadBy={actions.onShowReadBy}
      onVisibleLatest={(seq) => {
        if (document.visibilityState === "visible" && !props.timeline.state.hasNewer)
          void chat.markRead(props.roomId, seq);
      }}
    />
  );
}

/** A room: its header (name, topic, settings), its timeline, who is typing, the composer. */
export function RoomView(props: { roomId: string; messageId?: string; ui: Ui }) {
  const chat = useChat();
  const timeline = createMemo(() => chat.timeline(props.roomId));
  const detail = () => chat.rooms.state.details[props.roomId];
  const kind = () => chat.rooms.mine(props.roomId)?.kind ?? detail()?.kind;
  const name = () => chat.roomName(props.roomId);
  const topic = () => chat.rooms.mine(props.roomId)?.topic ?? detail()?.topic ?? "";
  const members = createMemo(() => (detail()?.members ?? []).map((m) => m.userId));
  const [lastRead, setLastRead] = createSignal(NO_SEPARATOR);
  let capturedFor: string | null = null;

  createEffect(
    on(
      () => [props.roomId, props.messageId] as const,
      ([roomId, messageId]) => {
        capturedFor = null;
        void chat.openRoom(roomId, messageId);
      },
    ),
  );
  // The read marker as it was when the room was opened: the separator stays while reading.
  createEffect(() => {
    const roomId = props.roomId;
    const mine = chat.rooms.mine(roomId);
    if (capturedFor === roomId || (mine === undefined && chat.rooms.state.status !== "ready")) return;
    capturedFor = roomId;
    setLastRead(mine?.readSeq ?? NO_SEPARATOR);
  });

  const prefix = () => (kind() === "dm" ? "@ " : kind() === "private" ? "🔒 " : "# ");
  /** What the composer is called: "Message #lobby", "Message @bob", "Message secret plans" (no lock glyph read aloud). */
  const composerLabel = () => `Message ${kind() === "private" ? "" : prefix().trim()}${name()}`;
  return (
    <section class="room-view" aria-labelledby="room-title" data-testid="room-view" data-room-id={props.roomId}>
      <header class="room-header">
        <div class="room-header-text">
          <h1 id="room-title" class="room-title" data-testid="room-title">
            <span aria-hidden="true">{prefix()}</span>
            {name()}
          </h1>
          <Show when={topic() !== ""}>
            <p class="room-topic" data-testid="room-topic">
              {topic()}
            </p>
          </Show>
        </div>
        <Show when={detail() !== undefined}>
          <span class="muted small-text room-members-count">
            {detail()!.members.length} member{detail()!.members.length === 1 ? "" : "s"}
          </span>
          <button
            type="button"
            class="icon-button"
            aria-label="Room settings"
            data-testid="room-settings-button"
            onClick={() => props.ui.open({ kind: "settings", roomId: props.roomId })}
          >
            ⚙
          </button>
        </Show>
      </header>
      <Switch>
        <Match when={timeline().state.status === "error"}>
          <div class="room-error" role="alert" data-testid="room-error">
            <p>This room does not exist, or you may not read it.</p>
            <button type="button" onClick={() => void timeline().loadLatest()}>
              Try again
            </button>
          </div>
        </Match>
        <Match when={true}>
          <div class="room-timeline">
            <Show when={props.roomId} keyed>
              {(roomId) => (
                <RoomTimeline
                  timeline={timeline()}
                  roomId={roomId}
                  messageId={props.messageId}
                  lastReadSeq={lastRead()}
                  ui={props.ui}
                />
              )}
            </Show>
            <Show when={timeline().state.hasNewer}>
              <button
                type="button"
                class="jump-latest primary"
                data-testid="jump-latest"
                onClick={() => {
                  // Leaving the message's address opens the room at its latest page.
                  if (props.messageId !== undefined) chat.router.go({ view: "room", roomId: props.roomId }, true);
                  else void timeline().loadLatest();
                }}
              >
                Jump to latest ↓
              </button>
            </Show>
          </div>
        </Match>
      </Switch>
      <TypingIndicator roomId={props.roomId} />
      <Composer
        roomId={props.roomId}
        where="room"
        label={composerLabel()}
        placeholder={composerLabel()}
        send={(body, mentions) => void timeline().sender.send(body, mentions)}
        members={members()}
        messages={timeline().messages()}
        ui={props.ui}
      />
    </section>
  );
}

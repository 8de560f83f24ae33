import { For, Show, createEffect, createMemo, on } from "solid-js";
import { useChat } from "../stores/chat.ts";
import type { MyRoom } from "../stores/rooms.ts";
import type { Ui } from "../stores/ui.ts";
import { PresenceDot } from "./PresenceDot.tsx";

/** Moves focus between the room links with the arrow keys, Home and End. */
function onListKey(e: KeyboardEvent): void {
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(e.key)) return;
  const target = e.target as HTMLElement;
  if (!target.classList.contains("room-item")) return;
  const nav = e.currentTarget as HTMLElement;
  const items = [...nav.querySelectorAll<HTMLElement>(".room-item")];
  const i = items.indexOf(target);
  const next =
    e.key === "Home"
      ? 0
      : e.key === "End"
        ? items.length - 1
        : e.key === "ArrowDown"
          ? Math.min(items.length - 1, i + 1)
          : Math.max(0, i - 1);
  items[next]?.focus();
  e.preventDefault();
}

function RoomItem(props: { room: MyRoom; ui: Ui }) {
  const chat = useChat();
  const current = () => {
    const r = chat.router.route();
    return r.view === "room" && r.roomId === props.room.roomId;
  };
  const partner = () => (props.room.kind === "dm" ? chat.dmPartner(props.room.roomId) : undefined);
  const name = () => chat.roomName(props.room.roomId);
  const unreadText = () => {
    const parts: string[] = [];
    if (props.room.unread > 0) parts.push(`${props.room.unread} unread`);
    if (props.room.mentions > 0) parts.push(`${props.room.mentions} mention${props.room.mentions === 1 ? "" : "s"}`);
    return parts.join(", ");
  };
  return (
    <li>
      <a
        class="room-item"
        classList={{ unread: props.room.unread > 0, archived: props.room.archived }}
        href={`/rooms/${props.room.roomId}`}
        data-testid="room-item"
        data-room-id={props.room.roomId}
        data-kind={props.room.kind}
        aria-current={current() ? "page" : undefined}
        onClick={(e) => {
          e.preventDefault();
          chat.router.go({ view: "room", roomId: props.room.roomId });
          if (props.ui.drawerOpen()) {
            // On a phone the drawer closes over the room just opened: focus goes to it.
            props.ui.setDrawerOpen(false);
            document.getElementById("main")?.focus();
          }
        }}
      >
        <span class="room-icon" aria-hidden={partner() === undefined ? "true" : undefined}>
          <Show when={partner()} fallback={props.room.kind === "private" ? "🔒" : "#"}>
            {(p) => <PresenceDot status={chat.presence.of(p())} />}
          </Show>
        </span>
        <span class="room-name">{name()}</span>
        <Show when={unreadText() !== ""}>
          <span class="sr-only">, {unreadText()}</span>
        </Show>
        <Show when={props.room.mentions > 0}>
          <span class="badge mention-badge" data-testid="mention-badge" aria-hidden="true">
            @{props.room.mentions}
          </span>
        </Show>
        <Show when={props.room.unread > 0}>
          <span class="badge unread-badge" data-testid="unread-badge" aria-hidden="true">
            {props.room.unread > 99 ? "99+" : props.room.unread}
          </span>
        </Show>
      </a>
    </li>
  );
}

function Section(props: { title: string; rooms: readonly MyRoom[]; ui: Ui; empty: string; testId: string }) {
  return (
    <section class="sidebar-section" aria-label={props.title} data-testid={props.testId}>
      <h2 class="sidebar-heading">{props.title}</h2>
      <Show when={props.rooms.length > 0} fallback={<p class="sidebar-empty">{props.empty}</p>}>
        <ul class="room-list">
          <For each={props.rooms}>{(r) => <RoomItem room={r} ui={props.ui} />}</For>
        </ul>
      </Show>
    </section>
  );
}

/** The rooms: actions (browse, create, new DM), invitations, public rooms, private rooms, DMs with presence. */
export function Sidebar(props: { ui: Ui }) {
  const chat = useChat();
  const byKind = createMemo(() => {
    const mine = chat.rooms.state.mine;
    const sorted = (k: MyRoom["kind"]) =>
      mine.filter((r) => r.kind === k && !r.archived).concat(mine.filter((r) => r.kind === k && r.archived));
    return { public: sorted("public"), private: sorted("private"), dm: sorted("dm") };
  });
  let nav!: HTMLElement;
  // The drawer (phones) takes focus when it opens: the room being read, else the first room or action.
  createEffect(
    on(
      () => props.ui.drawerOpen(),
      (open) => {
        if (open)
          (
            nav.querySelector<HTMLElement>('.room-item[aria-current="page"]') ??
            nav.querySelector<HTMLElement>(".room-item, button")
          )?.focus();
      },
      { defer: true },
    ),
  );
  return (
    <nav
      ref={nav}
      id="sidebar"
      class="sidebar"
      classList={{ open: props.ui.drawerOpen() }}
      aria-label="Rooms"
      onKeyDown={onListKey}
    >
      <div class="sidebar-actions">
        <button type="button" data-testid="open-directory" onClick={() => props.ui.open({ kind: "directory" })}>
          Browse rooms
        </button>
        <Show when={chat.hasRealmRole}>
          <button type="button" data-testid="create-room" onClick={() => props.ui.open({ kind: "createRoom" })}>
            New room
          </button>
          <button type="button" data-testid="start-dm" onClick={() => props.ui.open({ kind: "startDm" })}>
            New message
          </button>
        </Show>
      </div>
      <Show when={chat.rooms.state.status === "error"}>
        <p class="sidebar-error" role="alert">
          Rooms could not be loaded.{" "}
          <button type="button" class="link" onClick={() => void chat.rooms.refresh()}>
            Try again
          </button>
        </p>
      </Show>
      <Show when={chat.rooms.state.invitations.length > 0}>
        <section class="sidebar-section" aria-label="Invitations" data-testid="invitations">
          <h2 class="sidebar-heading">Invitations</h2>
          <ul class="room-list">
            <For each={chat.rooms.state.invitations}>
              {(inv) => (
                <li class="invitation" data-testid="invitation" data-room-id={inv.roomId}>
                  <span>
                    {chat.users.nameOf(inv.invitedBy)} invited you to{" "}
                    {inv.name !== undefined ? <strong>{inv.name}</strong> : "a private room"}
                  </span>
                  <span class="invitation-actions">
                    <button
                      type="button"
                      class="primary small"
                      data-testid="accept-invitation"
                      onClick={() =>
                        void chat.join(inv.roomId).then(
                          () => chat.router.go({ view: "room", roomId: inv.roomId }),
                          () => undefined,
                        )
                      }
                    >
                      Join
                    </button>
                    <button
                      type="button"
                      class="small"
                      aria-label="Dismiss invitation"
                      onClick={() => chat.rooms.dismissInvitation(inv.roomId)}
                    >
                      Dismiss
                    </button>
                  </span>
                </li>
              )}
            </For>
          </ul>
        </section>
      </Show>
      <Section
        title="Public rooms"
        rooms={byKind().public}
        ui={props.ui}
        empty="No public rooms joined yet."
        testId="public-rooms"
      />
      <Section
        title="Private rooms"
        rooms={byKind().private}
        ui={props.ui}
        empty="No private rooms."
        testId="private-rooms"
      />
      <Section
        title="Direct messages"
        rooms={byKind().dm}
        ui={props.ui}
        empty="No direct messages."
        testId="direct-messages"
      />
    </nav>
  );
}

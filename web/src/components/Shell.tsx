import { createEffect, For, Match, on, Show, Switch } from "solid-js";
import { useChat } from "../stores/chat.ts";
import { createUi, type DialogState } from "../stores/ui.ts";
import { CreateRoomDialog } from "./CreateRoomDialog.tsx";
import { DRAWER_TOGGLE_ID, Header } from "./Header.tsx";
import { ConfirmDeleteDialog, HistoryDialog, ReadByDialog } from "./MessageDialogs.tsx";
import { RoomDirectory } from "./RoomDirectory.tsx";
import { RoomSettings } from "./RoomSettings.tsx";
import { RoomView } from "./RoomView.tsx";
import { SearchDialog } from "./SearchDialog.tsx";
import { Sidebar } from "./Sidebar.tsx";
import { StartDmDialog } from "./StartDmDialog.tsx";
import { ThreadPanel } from "./ThreadPanel.tsx";

/** The page before a room is chosen. */
function Home(props: { openDirectory: () => void; createRoom: () => void }) {
  const chat = useChat();
  return (
    <section class="home" aria-labelledby="home-title" data-testid="home">
      <h1 id="home-title">Welcome, {chat.identity.username}</h1>
      <Show
        when={chat.rooms.state.mine.length > 0}
        fallback={
          <p>
            You are in no room yet. Browse the public rooms to join one{chat.hasRealmRole ? ", or create your own" : ""}
            .
          </p>
        }
      >
        <p>Pick a room on the left, or browse the public rooms.</p>
      </Show>
      <div class="home-actions">
        <button type="button" class="primary" onClick={() => props.openDirectory()}>
          Browse rooms
        </button>
        <Show when={chat.hasRealmRole}>
          <button type="button" onClick={() => props.createRoom()}>
            New room
          </button>
        </Show>
      </div>
      <Show when={!chat.hasRealmRole}>
        <p class="muted">Your account can read public rooms but not post.</p>
      </Show>
    </section>
  );
}

/** The signed-in page: header, rooms sidebar (a drawer on phones), the room or home, the thread, dialogs. */
export function Shell() {
  const chat = useChat();
  const ui = createUi();
  const dialog = (kind: DialogState["kind"]) => {
    const d = ui.dialog();
    return d !== null && d.kind === kind ? d : null;
  };
  const pick = <K extends DialogState["kind"]>(kind: K) => dialog(kind) as Extract<DialogState, { kind: K }> | null;
  // Whatever opened another room or home with the phone drawer open (a room in it, a room created or
  // a DM started from it, a directory join, a search hit) closes the drawer over it, and focus goes
  // to the conversation once any dialog that did it has closed and given focus back.
  createEffect(
    on(
      () => {
        const r = chat.router.route();
        return r.view === "room" ? r.roomId : "";
      },
      () => {
        if (!ui.drawerOpen()) return;
        ui.setDrawerOpen(false);
        requestAnimationFrame(() => document.getElementById("main")?.focus());
      },
      { defer: true },
    ),
  );
  /** Closes the phone drawer (Escape, the backdrop): focus goes back to the button that opened it. */
  const closeDrawer = (): void => {
    ui.setDrawerOpen(false);
    document.getElementById(DRAWER_TOGGLE_ID)?.focus();
  };
  return (
    <div
      class="app"
      classList={{ "drawer-open": ui.drawerOpen(), "thread-open": chat.thread() !== null }}
      onKeyDown={(e) => {
        // Escape in a dialog over the drawer closes the dialog only.
        if (e.key === "Escape" && ui.drawerOpen() && (e.target as Element).closest("dialog") === null) closeDrawer();
      }}
    >
      <a class="skip-link" href="#main">
        Skip to the conversation
      </a>
      <Header ui={ui} />
      <div class="app-body">
        <Sidebar ui={ui} />
        <Show when={ui.drawerOpen()}>
          <div class="drawer-backdrop" aria-hidden="true" onClick={closeDrawer} />
        </Show>
        {/* Behind the open drawer (phones) the page is out of reach, as behind a dialog. */}
        <main id="main" class="main" tabIndex={-1} inert={ui.drawerOpen()}>
          <Switch>
            <Match
              when={(() => {
                const r = chat.router.route();
                return r.view === "room" ? r : null;
              })()}
            >
              {(r) => <RoomView roomId={r().roomId} messageId={r().messageId} ui={ui} />}
            </Match>
            <Match when={true}>
              <Home
                openDirectory={() => ui.open({ kind: "directory" })}
                createRoom={() => ui.open({ kind: "createRoom" })}
              />
            </Match>
          </Switch>
        </main>
        <Show when={chat.thread()} keyed>
          {(t) => <ThreadPanel thread={t} ui={ui} />}
        </Show>
      </div>

      <Show when={pick("directory")}>
        <RoomDirectory onClose={ui.close} />
      </Show>
      <Show when={pick("createRoom")}>
        <CreateRoomDialog onClose={ui.close} />
      </Show>
      <Show when={pick("startDm")}>
        <StartDmDialog onClose={ui.close} />
      </Show>
      <Show when={pick("settings")} keyed>
        {(d) => <RoomSettings roomId={d.roomId} onClose={ui.close} />}
      </Show>
      <Show when={pick("search")} keyed>
        {(d) => <SearchDialog query={d.query} onClose={ui.close} />}
      </Show>
      <Show when={pick("history")} keyed>
        {(d) => <HistoryDialog roomId={d.roomId} messageId={d.messageId} onClose={ui.close} />}
      </Show>
      <Show when={pick("readBy")} keyed>
        {(d) => <ReadByDialog roomId={d.roomId} messageId={d.messageId} onClose={ui.close} />}
      </Show>
      <Show when={pick("confirmDelete")} keyed>
        {(d) => (
          <ConfirmDeleteDialog roomId={d.roomId} messageId={d.messageId} authorId={d.authorId} onClose={ui.close} />
        )}
      </Show>

      <div class="sr-only" aria-live="polite" data-testid="live-announcer">
        {chat.announcement()}
      </div>
      <div class="toasts" role="status" aria-live="polite">
        <For each={chat.toasts}>
          {(t) => (
            <div class="toast" data-testid="toast">
              {t.text}
            </div>
          )}
        </For>
      </div>
    </div>
  );
}

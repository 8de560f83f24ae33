import { createSignal } from "solid-js";
import type { ConnectionState } from "../connection.ts";
import { useChat } from "../stores/chat.ts";
import type { Ui } from "../stores/ui.ts";
import { UserMenu } from "./UserMenu.tsx";

const STATE_LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  online: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

/** The connection's state, always visible; changes are announced politely. */
export function ConnectionIndicator() {
  const chat = useChat();
  const state = () => chat.connection.state();
  return (
    <div class="connection" data-testid="connection-state" data-state={state()} role="status" aria-live="polite">
      <span class="connection-dot" aria-hidden="true" />
      <span class="connection-label">{STATE_LABEL[state()]}</span>
    </div>
  );
}

/** The id of the phone drawer's button (focus goes back to it when the drawer closes). */
export const DRAWER_TOGGLE_ID = "drawer-toggle";

/** The top bar: the rooms drawer button (phones), the search box, the connection state, the user menu. */
export function Header(props: { ui: Ui }) {
  const chat = useChat();
  const [query, setQuery] = createSignal("");
  return (
    <header class="app-header">
      <button
        type="button"
        id={DRAWER_TOGGLE_ID}
        class="icon-button drawer-toggle"
        aria-label="Rooms"
        aria-controls="sidebar"
        aria-expanded={props.ui.drawerOpen()}
        data-testid="drawer-toggle"
        onClick={() => props.ui.setDrawerOpen(!props.ui.drawerOpen())}
      >
        ☰
      </button>
      <a
        class="brand"
        href="/"
        onClick={(e) => {
          e.preventDefault();
          chat.router.go({ view: "home" });
        }}
      >
        natter
      </a>
      <form
        class="search-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const q = query().trim();
          if (q !== "") props.ui.open({ kind: "search", query: q });
        }}
      >
        <input
          type="search"
          class="search-input"
          placeholder="Search messages"
          aria-label="Search messages"
          data-testid="search-input"
          maxLength={200}
          value={query()}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
      </form>
      <ConnectionIndicator />
      <UserMenu />
    </header>
  );
}

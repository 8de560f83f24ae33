import { createSignal } from "solid-js";

/** Where the user is: the home page, or a room (optionally at a message: a search hit, a link). */
export type Route = { view: "home" } | { view: "room"; roomId: string; messageId?: string };

/**
 * The route of a path: `/` is home, `/rooms/<roomId>` a room, `?m=<messageId>` a message in it.
 *
 * @example parseRoute("/rooms/01J…?m=01K…") // { view: "room", roomId: "01J…", messageId: "01K…" }
 */
export function parseRoute(pathname: string, search = ""): Route {
  const m = /^\/rooms\/([A-Za-z0-9_-]{1,64})\/?$/.exec(pathname);
  if (m === null) return { view: "home" };
  const messageId = new URLSearchParams(search).get("m");
  return messageId !== null && /^[A-Za-z0-9_-]{1,64}$/.test(messageId)
    ? { view: "room", roomId: m[1]!, messageId }
    : { view: "room", roomId: m[1]! };
}

/** The path of a route. */
export function routePath(r: Route): string {
  if (r.view === "home") return "/";
  return `/rooms/${encodeURIComponent(r.roomId)}${r.messageId === undefined ? "" : `?m=${encodeURIComponent(r.messageId)}`}`;
}

/** The page's route, from the address bar and kept in it (History API; back and forward work). */
export function createRouter() {
  const [route, setRoute] = createSignal<Route>(parseRoute(location.pathname, location.search));
  const onPop = (): void => {
    setRoute(parseRoute(location.pathname, location.search));
  };
  window.addEventListener("popstate", onPop);
  return {
    route,
    /** Goes to a route (a new history entry unless `replace`). */
    go(r: Route, replace = false): void {
      const path = routePath(r);
      if (replace) history.replaceState(null, "", path);
      else if (location.pathname + location.search !== path) history.pushState(null, "", path);
      setRoute(r);
    },
    dispose: () => window.removeEventListener("popstate", onPop),
  };
}

export type Router = ReturnType<typeof createRouter>;

import type { QueryName } from "./schemas.ts";

/** One HTTP route of the read API. */
export type Route = { method: "GET" | "POST"; path: string; query: QueryName; summary: string };

/** The HTTP routes (docs/read-side.md); the OpenAPI document lists the same. Literal paths before parameters. */
export const ROUTES: readonly Route[] = [
  { method: "GET", path: "/api/rooms", query: "rooms", summary: "The caller's rooms with unread and mention counts" },
  { method: "GET", path: "/api/rooms/public", query: "roomsPublic", summary: "The directory of public rooms" },
  {
    method: "GET",
    path: "/api/rooms/{roomId}",
    query: "room",
    summary: "A room with its members and their room roles",
  },
  {
    method: "GET",
    path: "/api/rooms/{roomId}/messages",
    query: "messages",
    summary: "A page of the timeline, by sequence or around a message",
  },
  {
    method: "GET",
    path: "/api/rooms/{roomId}/changes",
    query: "changes",
    summary: "Messages posted or changed after a sequence (reconnect)",
  },
  {
    method: "GET",
    path: "/api/rooms/{roomId}/threads/{messageId}",
    query: "thread",
    summary: "A thread: its root and replies",
  },
  {
    method: "GET",
    path: "/api/rooms/{roomId}/messages/{messageId}/history",
    query: "history",
    summary: "A message's edit history",
  },
  {
    method: "GET",
    path: "/api/rooms/{roomId}/messages/{messageId}/read-by",
    query: "readBy",
    summary: "Members who have read up to a message",
  },
  {
    method: "GET",
    path: "/api/rooms/{roomId}/bans",
    query: "bans",
    summary: "A room's bans in force, for its owners and moderators (and admins)",
  },
  {
    method: "POST",
    path: "/api/rooms/{roomId}/read",
    query: "markRead",
    summary: "Moves the caller's read marker forward",
  },
  { method: "GET", path: "/api/search", query: "search", summary: "Full-text search over what the caller may read" },
  { method: "GET", path: "/api/presence", query: "presence", summary: "Users' presence" },
  { method: "GET", path: "/api/users", query: "users", summary: "People by name, to invite or message" },
  { method: "GET", path: "/api/audit", query: "audit", summary: "The event log, for admins" },
];

const compiled = ROUTES.map((r) => ({ route: r, parts: r.path.split("/") }));

/**
 * The route of a request: the query and its path parameters; `"method"` when the path exists
 * with another method; null when no route has the path. Path parameters are decoded.
 */
export function matchRoute(
  method: string,
  pathname: string,
): { query: QueryName; params: Record<string, string> } | "method" | null {
  const parts = pathname.replace(/\/+$/, "").split("/");
  let pathMatched = false;
  for (const { route, parts: pattern } of compiled) {
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      if (p.startsWith("{")) {
        try {
          params[p.slice(1, -1)] = decodeURIComponent(parts[i]!);
        } catch {
          ok = false;
        }
      } else ok = p === parts[i];
    }
    if (!ok) continue;
    if (route.method === method) return { query: route.query, params };
    pathMatched = true;
  }
  return pathMatched ? "method" : null;
}

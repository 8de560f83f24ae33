import { createSignal } from "solid-js";
import { createStore } from "solid-js/store";
import { ulid } from "ulid";
import type { LiveEvent, PresenceStatus } from "../../../domain/index.ts";
import type { Server } from "../server.ts";

/** What the user chose in the menu: online, or away even while the tab is in front. */
export type ChosenStatus = "online" | "away";

const STATUSES: readonly PresenceStatus[] = ["online", "away", "offline"];

/**
 * Presence: this tab's heartbeats on `presence.<uid>` (every heartbeat interval, at once when the
 * tab is hidden or shown or the user changes their status; `away` while hidden or chosen, an
 * `offline` goodbye when the page goes), and others' statuses from `GET /api/presence` and
 * `Presence` live events.
 */
export function createPresence(deps: {
  server: Pick<Server, "presence" | "heartbeat">;
  me: string;
  heartbeatMs: number;
  chosen?: ChosenStatus;
}) {
  const [statuses, setStatuses] = createStore<Record<string, PresenceStatus>>({});
  const [chosen, setChosenSignal] = createSignal<ChosenStatus>(deps.chosen ?? "online");
  /** One id per page load: each tab is its own connection. */
  const connectionId = ulid();
  let timer: ReturnType<typeof setInterval> | undefined;

  const announced = (): PresenceStatus =>
    chosen() === "away" || document.visibilityState === "hidden" ? "away" : "online";
  const beat = (): void => {
    const status = announced();
    if (deps.server.heartbeat(connectionId, status)) setStatuses(deps.me, status);
  };
  const onVisibility = (): void => beat();
  const onLeave = (): void => {
    deps.server.heartbeat(connectionId, "offline");
  };

  const presence = {
    connectionId,
    /** A user's status; `offline` when unknown. */
    of: (userId: string): PresenceStatus => statuses[userId] ?? "offline",
    /** What the user chose. */
    chosen,
    /** Changes what the user chose and says so at once. */
    setChosen(status: ChosenStatus): void {
      setChosenSignal(status);
      beat();
    },
    /** Asks the statuses of users (those the user shares a room with are answered). */
    async fetch(userIds: readonly string[]): Promise<void> {
      const unique = [...new Set(userIds)];
      for (let i = 0; i < unique.length; i += 200) {
        const ans = await deps.server.presence(unique.slice(i, i + 200));
        setStatuses(ans.presence);
      }
    },
    /** Applies a `Presence` live event (`{ userId, status }`). */
    applyLive(e: LiveEvent): void {
      if (e.type !== "Presence") return;
      const userId = e.payload["userId"];
      const status = e.payload["status"];
      if (typeof userId !== "string" || !STATUSES.includes(status as PresenceStatus)) return;
      // Our own status is what this tab announces; another tab of ours may say otherwise, which the server merges.
      setStatuses(userId, status as PresenceStatus);
    },
    /** Starts the heartbeats (and sends one now: call it on every connect). */
    start(): void {
      beat();
      if (timer !== undefined) return;
      timer = setInterval(beat, deps.heartbeatMs);
      document.addEventListener("visibilitychange", onVisibility);
      window.addEventListener("pagehide", onLeave);
    },
    /** Stops the heartbeats and says goodbye. */
    stop(): void {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("pagehide", onLeave);
      onLeave();
    },
  };
  return presence;
}

export type Presence = ReturnType<typeof createPresence>;

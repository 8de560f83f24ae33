import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import type { LiveEvent } from "../../domain/index.ts";
import type { Connection } from "./connection.ts";

/** What {@link createLive} needs. */
export type LiveSetup = {
  connection: Pick<Connection, "onConnect" | "current">;
  userId: string;
  /** Each live event, as it comes (the stores drop what they already have, by sequence). */
  onEvent(e: LiveEvent): void;
  /** After every connect and reconnect, once the subscriptions are in place: catch up by sequence. */
  onResume(): void;
};

const dec = new TextDecoder();

/** A live event from a NATS message, or null for one that is not (logged, dropped). */
export function decodeLiveEvent(data: Uint8Array): LiveEvent | null {
  try {
    const e = JSON.parse(dec.decode(data)) as Partial<LiveEvent>;
    if (typeof e !== "object" || e === null) return null;
    if (
      typeof e.seq !== "number" ||
      typeof e.type !== "string" ||
      typeof e.time !== "string" ||
      typeof e.actor !== "string"
    )
      return null;
    if (typeof e.payload !== "object" || e.payload === null) return null;
    if (e.roomId !== undefined && typeof e.roomId !== "string") return null;
    if (e.messageId !== undefined && typeof e.messageId !== "string") return null;
    return e as LiveEvent;
  } catch {
    return null;
  }
}

/**
 * Receives live events: always the user's own `deliver.<uid>.>` (private rooms, DMs, threads,
 * mentions, notices), and `live.room.<roomId>` of each public room watched. After every
 * (re)connect it subscribes first, then calls `onResume` to catch up (`changes?after=`).
 */
export function createLive(setup: LiveSetup) {
  const watched = new Map<string, Subscription | null>();
  let own: Subscription | null = null;
  let stopped = false;

  const handler = (err: Error | null, m: Msg): void => {
    if (err !== null) return;
    const e = decodeLiveEvent(m.data);
    if (e !== null) setup.onEvent(e);
  };
  const subscribeRoom = (nc: NatsConnection, roomId: string): void => {
    watched.set(roomId, nc.subscribe(`live.room.${roomId}`, { callback: handler }));
  };

  const off = setup.connection.onConnect((nc, fresh) => {
    if (stopped) return;
    if (fresh) own = nc.subscribe(`deliver.${setup.userId}.>`, { callback: handler });
    for (const [roomId, sub] of watched) if (fresh || sub === null) subscribeRoom(nc, roomId);
    // A reconnect keeps the subscriptions; a fresh connection has them now. Ask what was missed.
    void nc.flush().then(
      () => setup.onResume(),
      () => setup.onResume(),
    );
  });

  return {
    /** Listens to a public room's multicast (idempotent). */
    watch(roomId: string): void {
      if (watched.has(roomId)) return;
      const nc = setup.connection.current();
      if (nc === null) watched.set(roomId, null);
      else subscribeRoom(nc, roomId);
    },
    /** Stops listening to a public room. */
    unwatch(roomId: string): void {
      watched.get(roomId)?.unsubscribe();
      watched.delete(roomId);
    },
    /** The public rooms watched. */
    watching: (): string[] => [...watched.keys()],
    stop(): void {
      stopped = true;
      off();
      own?.unsubscribe();
      for (const s of watched.values()) s?.unsubscribe();
      watched.clear();
    },
  };
}

export type Live = ReturnType<typeof createLive>;

import { errors, tokenAuthenticator, wsconnect, type ConnectionOptions, type NatsConnection } from "@nats-io/nats-core";
import { createSignal, type Accessor } from "solid-js";

/** What the header shows: first connect, connected, lost and trying again, or no network / given up for now. */
export type ConnectionState = "connecting" | "online" | "reconnecting" | "offline";

/** Options of {@link createConnection}. */
export type ConnectionSetup = {
  /** NATS over WebSocket (config.json `natsWsUrl`). */
  url: string;
  /** The user id: replies come on `_INBOX.<userId>.…`, the only inboxes the user may read. */
  userId: string;
  /** The current access token, asked at every (re)connect. */
  token: () => string;
  /** Called when NATS refuses the token (expired, revoked): renew it; resolves when a fresh one may be there. */
  onAuthError?: () => Promise<unknown>;
  /** The first delay between attempts, in ms (default 500). */
  initialDelayMs?: number;
  /** The longest delay between attempts, in ms (default 30 s). */
  maxDelayMs?: number;
  /** Connects (wsconnect by default; tests give their own). */
  connect?: (options: ConnectionOptions) => Promise<NatsConnection>;
};

/** The page's one NATS connection. */
export type Connection = {
  state: Accessor<ConnectionState>;
  /** The connection while online, else null. */
  current(): NatsConnection | null;
  /** The connection once online (at most `timeoutMs`, default 10 s), else an Error. */
  ready(timeoutMs?: number): Promise<NatsConnection>;
  /**
   * Calls `listener` after every connect and reconnect. `fresh` is true for a new connection
   * (subscriptions must be made again), false when NATS reconnected and kept them.
   */
  onConnect(listener: (nc: NatsConnection, fresh: boolean) => void): () => void;
  /** Drops the connection and connects again at once (a fresh token, the network back). */
  reconnect(): void;
  /** Closes for good. */
  close(): Promise<void>;
};

/**
 * The delay before reconnect attempt `attempt` (0 for the first): exponential from `initialMs`,
 * capped at `maxMs`, with jitter over its upper half so that a server restart is not met by
 * every client at once.
 *
 * @example backoffDelay(3, 500, 30_000, 0.5) // 3000: 500 * 2^3 = 4000, scaled into 2000..4000
 */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: number = Math.random(),
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** True for NATS refusing who we are (as opposed to the network). */
function isAuthError(err: unknown): boolean {
  return err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError;
}

/**
 * Opens the NATS WebSocket connection with the access token (asked afresh at every connect) and
 * the inbox prefix `_INBOX.<userId>`, and keeps it open: NATS reconnects forever with backoff and
 * jitter; when NATS refuses the token (the server closes a connection whose token expired) it
 * asks for a fresh one and reconnects with it; a connection that closes anyway is replaced.
 */
export function createConnection(setup: ConnectionSetup): Connection {
  const initial = setup.initialDelayMs ?? 500;
  const max = setup.maxDelayMs ?? 30_000;
  const connect = setup.connect ?? wsconnect;
  const [state, setState] = createSignal<ConnectionState>("connecting");
  const listeners = new Set<(nc: NatsConnection, fresh: boolean) => void>();
  const waiters = new Set<(nc: NatsConnection) => void>();
  let nc: NatsConnection | null = null;
  let closed = false;
  let attempts = 0;
  // One delay per attempt: NATS asks for it more than once while it waits.
  let delayFor = -1;
  let delay = initial;
  let wake: (() => void) | null = null;

  const nextDelay = (): number => {
    if (delayFor !== attempts) {
      delayFor = attempts;
      delay = backoffDelay(attempts, initial, max);
    }
    return delay;
  };

  const online = (conn: NatsConnection, fresh: boolean): void => {
    attempts = 0;
    setState("online");
    for (const w of waiters) w(conn);
    waiters.clear();
    for (const l of listeners) l(conn, fresh);
  };

  const refreshToken = async (conn: NatsConnection | null): Promise<void> => {
    await setup.onAuthError?.().catch(() => undefined);
    if (conn !== null && !conn.isClosed()) void conn.reconnect().catch(() => undefined);
  };

  const watch = async (conn: NatsConnection): Promise<void> => {
    for await (const s of conn.status()) {
      switch (s.type) {
        case "disconnect":
        case "staleConnection":
          setState(navigator.onLine ? "reconnecting" : "offline");
          break;
        case "reconnecting":
          attempts++;
          break;
        case "reconnect":
          // NATS can say so twice for one reconnection (two disconnects waiting on one dial).
          if (state() !== "online") online(conn, false);
          break;
        case "error":
          if (isAuthError(s.error)) void refreshToken(conn);
          break;
        default:
          break;
      }
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = null;
        resolve();
      };
    });

  const run = async (): Promise<void> => {
    while (!closed) {
      let conn: NatsConnection;
      try {
        conn = await connect({
          servers: setup.url,
          authenticator: tokenAuthenticator(() => setup.token()),
          inboxPrefix: `_INBOX.${setup.userId}`,
          name: "natter-web",
          maxReconnectAttempts: -1,
          reconnectDelayHandler: nextDelay,
          ignoreAuthErrorAbort: true,
          pingInterval: 20_000,
          maxPingOut: 2,
          timeout: 10_000,
        });
      } catch (err) {
        if (closed) return;
        setState(navigator.onLine ? "reconnecting" : "offline");
        if (isAuthError(err)) await refreshToken(null);
        await sleep(nextDelay());
        attempts++;
        continue;
      }
      if (closed) {
        await conn.close().catch(() => undefined);
        return;
      }
      nc = conn;
      void watch(conn);
      online(conn, true);
      await conn.closed();
      nc = null;
      if (closed) return;
      // Closed without our asking (reconnect given up): start over with a new connection.
      setState("reconnecting");
      await sleep(nextDelay());
    }
  };

  const onNetwork = (): void => {
    if (!navigator.onLine) {
      if (state() !== "online") setState("offline");
      return;
    }
    if (state() === "online") return;
    wake?.();
    if (nc !== null && !nc.isClosed()) void nc.reconnect().catch(() => undefined);
  };
  window.addEventListener("online", onNetwork);
  window.addEventListener("offline", onNetwork);
  void run();

  return {
    state,
    current: () => (state() === "online" ? nc : null),
    ready(timeoutMs = 10_000) {
      const conn = nc;
      if (conn !== null && state() === "online") return Promise.resolve(conn);
      return new Promise((resolve, reject) => {
        const waiter = (c: NatsConnection): void => {
          clearTimeout(t);
          resolve(c);
        };
        const t = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error("not connected to the server"));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    onConnect(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reconnect() {
      wake?.();
      if (nc !== null && !nc.isClosed()) void nc.reconnect().catch(() => undefined);
    },
    async close() {
      closed = true;
      window.removeEventListener("online", onNetwork);
      window.removeEventListener("offline", onNetwork);
      wake?.();
      setState("offline");
      await nc?.close().catch(() => undefined);
    },
  };
}

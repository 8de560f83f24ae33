import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ulid } from "ulid";
import { MAX_DISPLAY_NAME, storableText } from "../domain/index.ts";

/** Records in the log the name each user's identity gives, as tokens are checked. */
export type IdentityNames = {
  /** Notes that `userId`'s token gives `name`; sends `svccmd.<userId>.user.identity` unless this name was recorded already. Never throws. */
  note(userId: string, name: string | undefined): void;
  /** Connects now rather than at the first name (once the callout that authorizes the connection runs), so that first name is not late. */
  ready(): Promise<void>;
  /** Waits for the commands under way (tests, shutdown). */
  settled(): Promise<void>;
};

export type IdentityNamesOptions = {
  log: Logger;
  /** Users whose recorded name is remembered, so that a reconnect sends nothing (default 50,000). */
  cacheSize?: number;
  /** How long a command may take (default 5,000 ms); a failed one is tried again at the user's next connect. */
  timeoutMs?: number;
};

const enc = new TextEncoder();

/**
 * The identity name as a command carries it: white space folded, at most the longest display
 * name (a longer `name` claim is cut, not refused). Empty is undefined.
 */
export function identityNameOf(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  // Cut by code points, never inside a surrogate pair, and with what the stores refuse replaced:
  // a claim the user chose must not make a command that is refused at every connect.
  let folded = "";
  for (const c of storableText(name).trim().replace(/\s+/g, " ")) {
    if (folded.length + c.length > MAX_DISPLAY_NAME) break;
    folded += c;
  }
  folded = folded.trim();
  return folded === "" ? undefined : folded;
}

/**
 * Sends the command that records a user's identity name over `connect()` (natter's `identity`
 * service account), connecting at the first name: that connection is authorized by the very
 * callout that notes names, so it cannot be made before the callout runs. The user decider answers a name it has as a no-op, so any number of connects make one
 * `UserProfileUpdated` per name; the names answered are remembered here so that reconnects cost
 * nothing. A command that fails (the command service away) is forgotten and sent again at the
 * next connect; connecting never waits for it.
 *
 * @example const names = identityNames(() => connectAs("identity"), { log }); names.note(userId, token.identityName);
 */
export function identityNames(connect: () => Promise<NatsConnection>, options: IdentityNamesOptions): IdentityNames {
  const cacheSize = options.cacheSize ?? 50_000;
  const timeout = options.timeoutMs ?? 5000;
  /** userId → the name recorded (or being recorded); oldest first, for eviction. */
  const recorded = new Map<string, string>();
  const running = new Set<Promise<void>>();
  let nc: Promise<NatsConnection> | undefined;
  const connection = (): Promise<NatsConnection> => {
    nc ??= connect().catch((err: unknown) => {
      nc = undefined;
      throw err;
    });
    return nc;
  };

  async function send(userId: string, name: string): Promise<void> {
    try {
      const reply = (
        await (
          await connection()
        ).request(`svccmd.${userId}.user.identity`, enc.encode(JSON.stringify({ commandId: ulid(), name })), {
          timeout,
        })
      ).json<{ ok: boolean; error?: { code: string; message: string } }>();
      if (!reply.ok) throw new Error(`${reply.error?.code}: ${reply.error?.message}`);
    } catch (err) {
      if (recorded.get(userId) === name) recorded.delete(userId);
      options.log.warn(
        { userId, err: err instanceof Error ? err.message : String(err) },
        "identity name not recorded: tried again at the next connect",
      );
    }
  }

  return {
    note(userId, raw) {
      const name = identityNameOf(raw);
      if (name === undefined || recorded.get(userId) === name) return;
      recorded.delete(userId);
      recorded.set(userId, name);
      if (recorded.size > cacheSize) recorded.delete(recorded.keys().next().value!);
      const p = send(userId, name).finally(() => running.delete(p));
      running.add(p);
    },
    async ready() {
      await connection();
    },
    async settled() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
  };
}

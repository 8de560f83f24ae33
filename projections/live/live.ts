import type { NatsConnection } from "@nats-io/transport-node";
import { startFanout, type FanoutOptions, type LiveFanout, type LiveTask } from "./fanout.ts";
import { startTyping, type TypingOptions } from "./typing.ts";

/** The fan-out's options, and what else runs while it is active. */
export type LiveOptions = FanoutOptions & {
  /** The typing relay's options (its `log` defaults to the fan-out's); `false` leaves typing off. */
  typing?: TypingOptions | false;
  /**
   * More parts to run while this instance is the active fan-out, after typing. Presence goes
   * here, with the fan-out's own routing:
   * `tasks: [(live) => startPresence(nc, { publishToRoom: live.publishToRoom, log })]`.
   */
  tasks?: readonly LiveTask[];
};

/**
 * Starts natter's live part (docs/read-side.md): the fan-out of room, message and profile events
 * (one active instance, the others standing by; see startFanout), and, in the active instance
 * only, the typing relay and any `tasks` (presence), each started when this instance becomes
 * active and stopped when it stops being. Resolves with the fan-out; `stop()` stops it all.
 *
 * @example
 * const live = await startLive(nc, { log, registry, tasks: [(l) => startPresence(nc, { publishToRoom: l.publishToRoom, log })] });
 * // ... on shutdown:
 * await live.stop();
 */
export async function startLive(nc: NatsConnection, options: LiveOptions = {}): Promise<LiveFanout> {
  const { typing, tasks, ...fanout } = options;
  const typingTask: LiveTask[] =
    typing === false ? [] : [(live) => startTyping(nc, live, { log: options.log, ...typing })];
  return startFanout(nc, { ...fanout, whileActive: [...(fanout.whileActive ?? []), ...typingTask, ...(tasks ?? [])] });
}

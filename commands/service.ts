import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { RateLimitedError, UnavailableError } from "../domain/index.ts";
import {
  AggregateRepository,
  CommandIndex,
  ensureBuckets,
  isInbox,
  ensureEventStream,
  EventStore,
  type EventStreamOptions,
} from "../streams/index.ts";
import { CommandHandler, errorReply, type CommandReply } from "./handler.ts";
import { RateLimiter, type RateLimit } from "../domain/index.ts";
import { parseCommandSubject } from "./subject.ts";

/** The queue group every command-service instance joins, so instances share the work. */
export const COMMAND_QUEUE = "commands";

export type CommandServiceOptions = {
  log: Logger;
  /** Per-user token bucket; default 30 commands burst, 10 a second. */
  rateLimit?: RateLimit;
  /** Commands handled at once by this instance; more answer `unavailable`. */
  maxInFlight?: number;
  /** The event stream's settings, used when the service creates it. */
  stream?: EventStreamOptions;
  /** Aggregates cached in memory. */
  cacheSize?: number;
  /** Events between snapshots of one aggregate. */
  snapshotEvery?: number;
  /** Attempts at one command when appends conflict. */
  maxAttempts?: number;
};

/** A running command service. */
export type CommandService = {
  /** Commands being handled right now. */
  readonly inFlight: number;
  /** Stops taking commands, finishes those under way and their writes; leaves the connection open. */
  drain(): Promise<void>;
};

const encoder = new TextEncoder();

/**
 * Serves `cmd.>`, `admincmd.>` and `svccmd.>` in the queue group `commands`: validates, authorizes, decides,
 * appends and answers each command (README, "How the write side works"), one log line per command. Creates the event
 * stream and the buckets if they are missing.
 */
export async function startCommandService(nc: NatsConnection, options: CommandServiceOptions): Promise<CommandService> {
  const log = options.log;
  const { info, warnings } = await ensureEventStream(nc, options.stream);
  for (const w of warnings) log.warn({ stream: "CHAT_EVENTS" }, w);
  const buckets = await ensureBuckets(nc, { replicas: options.stream?.replicas });
  const store = new EventStore(nc);
  const repo = new AggregateRepository(store, buckets.snapshots, {
    cacheSize: options.cacheSize,
    snapshotEvery: options.snapshotEvery,
  });
  // The id-age rule rests on the stream's real duplicate window, whoever made the stream.
  const duplicateWindowMs = (info.config.duplicate_window ?? 0) / 1e6;
  const handler = new CommandHandler(store, repo, new CommandIndex(store.requests), {
    maxAttempts: options.maxAttempts,
    duplicateWindowMs,
  });
  const limiter = new RateLimiter(options.rateLimit ?? { burst: 30, perSecond: 10 });
  const maxInFlight = options.maxInFlight ?? 2048;
  const inFlight = new Set<Promise<void>>();

  // Replies go out with the other messages of the event loop's turn (one socket write for many),
  // and only to an inbox: the reply subject is the sender's choice, the permissions the service's.
  const respond = (msg: Msg, reply: CommandReply): void => {
    if (msg.reply) store.requests.publish(msg.reply, encoder.encode(JSON.stringify(reply)));
  };

  const onMessage = (msg: Msg): void => {
    if (msg.reply !== undefined && !isInbox(msg.reply)) {
      log.warn(
        { subject: msg.subject.slice(0, 200), reply: msg.reply.slice(0, 200) },
        "command refused: its reply subject is not an inbox",
      );
      return;
    }
    const started = performance.now();
    const work = (async () => {
      let subject;
      try {
        subject = parseCommandSubject(msg.subject);
      } catch (err) {
        respond(msg, errorReply(err));
        log.info(
          { subject: msg.subject, outcome: "invalid", ms: +(performance.now() - started).toFixed(2) },
          "command",
        );
        return;
      }
      const wait = limiter.take(subject.userId, Date.now());
      if (wait > 0) {
        respond(
          msg,
          errorReply(
            new RateLimitedError(`too many commands; try again in ${wait} ms`, { details: { retryAfterMs: wait } }),
          ),
        );
        log.info(
          {
            user: subject.userId,
            action: subject.action,
            outcome: "rate_limited",
            ms: +(performance.now() - started).toFixed(2),
          },
          "command",
        );
        return;
      }
      if (inFlight.size > maxInFlight) {
        respond(msg, errorReply(new UnavailableError("the command service is overloaded; try again shortly")));
        log.warn(
          { user: subject.userId, action: subject.action, outcome: "unavailable" },
          "command refused: overloaded",
        );
        return;
      }
      const outcome = await handler.handle({ subject, data: msg.data, headers: msg.headers });
      respond(msg, outcome.reply);
      const line = {
        cmd: outcome.commandId,
        user: subject.userId,
        action: subject.action,
        admin: subject.privilege === "admin" || undefined,
        service: subject.privilege === "service" || undefined,
        outcome: outcome.reply.ok ? (outcome.replayed ? "replayed" : "ok") : outcome.reply.error.code,
        seq: outcome.reply.ok ? outcome.reply.seq : undefined,
        attempts: outcome.attempts > 1 ? outcome.attempts : undefined,
        ms: +(performance.now() - started).toFixed(2),
      };
      if (outcome.fault !== undefined) log.error({ ...line, err: outcome.fault }, "command failed");
      else log.info(line, "command");
    })().catch((err: unknown) => {
      log.error({ err, subject: msg.subject }, "command handler crashed");
      respond(msg, errorReply(err));
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const subs: Subscription[] = ["cmd.>", "admincmd.>", "svccmd.>"].map((subject) =>
    nc.subscribe(subject, {
      queue: COMMAND_QUEUE,
      callback: (err, msg) => (err ? log.error({ err }, "subscription failed") : onMessage(msg)),
    }),
  );
  await nc.flush();
  log.info({ queue: COMMAND_QUEUE }, "command service ready");

  return {
    get inFlight() {
      return inFlight.size;
    },
    async drain() {
      await Promise.all(subs.map((s) => s.drain()));
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await handler.flush();
      log.info("command service drained");
    },
  };
}

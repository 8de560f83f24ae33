import type { MsgHdrs } from "@nats-io/transport-node";
import { z } from "zod";
import {
  assertStorable,
  CommandId,
  ConflictError,
  InvalidError,
  messageDecider,
  NatterError,
  NotFoundError,
  parseCommand,
  roomDecider,
  ulidTime,
  userDecider,
  type CommandMeta,
  type DomainEvent,
  type MessageCommand,
  type MessageState,
  type ParsedCommand,
  type RoomState,
  type UserState,
} from "../domain/index.ts";
import {
  AggregateRepository,
  commandKey,
  DEFAULT_DUPLICATE_WINDOW_MS,
  encodeEvent,
  messageSubject,
  postMessageId,
  roomSubject,
  userSubject,
  type Aggregate,
  type AggregateSpec,
  type CommandIndex,
  type EventEnvelope,
  type EventStore,
  type IndexedCommand,
} from "../streams/index.ts";
import { messageSpec, roomSpec, userSpec } from "./aggregateSpecs.ts";
import { copiedHeaders, type CopiedHeaders } from "./copiedHeaders.ts";
import { KeyedQueue } from "./keyedQueue.ts";
import type { CommandSubject } from "./subject.ts";

/** The reply to a command: `{ ok, result, seq }` or `{ ok: false, error: { code, message, details } }` (README, "Sending commands"). */
export type CommandReply =
  | { ok: true; result: Record<string, unknown>; seq: number }
  | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };

/** The largest command body accepted, in bytes. A body of 8,000 characters fits with room to spare. */
export const MAX_COMMAND_BYTES = 64 * 1024;

/** How far a client's clock may run ahead of the service's before its new ids are refused (ms). */
export const DEFAULT_CLOCK_SKEW_MS = 60_000;

export type CommandHandlerOptions = {
  /** Attempts at one command when appends conflict, before answering `conflict`. */
  maxAttempts?: number;
  /** The clock, for the decision's `now` and the age of ids. */
  now?: () => Date;
  /**
   * The event stream's duplicate window (ms, default 2 minutes): the server itself catches a
   * repeat of a `Nats-Msg-Id` this young, so a command whose ids are younger (less the skew
   * allowance) needs no lookup before it is decided.
   */
  duplicateWindowMs?: number;
  /** How far a client's clock may run ahead (ms, default 60 s): an id dated later than that is `invalid`. */
  clockSkewMs?: number;
};

/** What one command came with besides its subject. */
export type CommandRequest = { subject: CommandSubject; data: Uint8Array; headers: MsgHdrs | undefined };

/** How a command ended, for the log line and metrics. */
export type CommandOutcome = {
  reply: CommandReply;
  commandId: string | undefined;
  attempts: number;
  replayed: boolean;
  /** An unexpected error behind an `unavailable` reply, for the log. */
  fault?: unknown;
};

const commandIdOnly = z.object({ commandId: CommandId.schema });

/** An aggregate a plan names: its subject and how it folds. */
type Ref = { readonly subject: string; readonly spec: AggregateSpec<unknown> };

/**
 * One command as data: what it loads, what it decides on, what guards its append, and what a
 * conflict or a doubtful refusal reads again. The retry loop in CommandHandler.execute runs every
 * plan alike.
 */
type Plan = {
  /** The aggregate the event is appended to. */
  readonly target: Ref;
  /**
   * The command names its target and the target is new (a post's message, a created room), and
   * its ids are young enough for the server's duplicate detection to catch a repeat: it is decided
   * on a blank state with nothing read.
   */
  readonly blank: boolean;
  /**
   * What else the decision reads. `current`: read to the log's end before deciding (a message
   * edit's room: one last-sequence read, and the events after the cached state if it moved);
   * otherwise the cached state, read again only when a conflict or a refusal asks for it.
   */
  readonly reads: readonly (Ref & { readonly current: boolean })[];
  /**
   * The read whose sequence guards the append instead of the target's own (a post's room: the
   * server refuses it once any room event came after the state decided on), and the append's
   * `Nats-Msg-Id`, which then makes the target unique within the duplicate window.
   */
  readonly guard?: { readonly read: number; readonly msgId: string };
  /** A retry is found through the command index (the target's id is not derived from the command id). */
  readonly indexed: boolean;
  /** Decides on the states read; returns the events or throws a domain error. */
  readonly decide: (target: unknown, reads: readonly unknown[]) => DomainEvent[];
};

/** The result member of a reply, from the event a command appended. */
export function resultOf(event: DomainEvent, seq: number): Record<string, unknown> {
  switch (event.type) {
    case "RoomCreated":
      return { roomId: event.data.roomId };
    case "MessagePosted":
      return { messageId: event.data.messageId, seq };
    default:
      return {};
  }
}

function zodDetails(err: z.ZodError): Record<string, unknown> {
  return { fields: err.issues.map((i) => ({ path: i.path.join("."), message: i.message, code: i.code })) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Validates, authorizes, decides and appends one command, with the command contract's promise: the same commandId gives the same answer and one set of events, however far apart.
 * Within the duplicate window JetStream's `Nats-Msg-Id` catches a repeat; after it (the id-age
 * rule), the aggregate's remembered command ids and the command index do.
 */
export class CommandHandler {
  private readonly queue = new KeyedQueue();
  private readonly maxAttempts: number;
  private readonly now: () => Date;
  private readonly duplicateWindowMs: number;
  private readonly clockSkewMs: number;

  constructor(
    private readonly store: EventStore,
    private readonly repo: AggregateRepository,
    private readonly commandIndex: CommandIndex | undefined,
    options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.now = options.now ?? (() => new Date());
    this.duplicateWindowMs = options.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    this.clockSkewMs = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  }

  /** Handles one command; never throws: every failure is a typed error reply. */
  async handle(req: CommandRequest): Promise<CommandOutcome> {
    let commandId: string | undefined;
    try {
      if (req.data.length > MAX_COMMAND_BYTES) {
        throw new InvalidError(`the command is ${req.data.length} bytes; at most ${MAX_COMMAND_BYTES} are accepted`);
      }
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(req.data));
      } catch {
        throw new InvalidError("the command body is not valid JSON");
      }
      if (typeof body !== "object" || body === null || Array.isArray(body))
        throw new InvalidError("the command body must be a JSON object");
      assertStorable(body, `${req.subject.action} command`);
      const copied = copiedHeaders(req.headers);
      const idCheck = commandIdOnly.safeParse(body);
      if (!idCheck.success)
        throw new InvalidError("commandId is missing or not a valid id (use a ULID)", {
          details: zodDetails(idCheck.error),
        });
      commandId = idCheck.data.commandId;
      const { commandId: _, ...rest } = body as Record<string, unknown>;
      const now = this.now();
      const meta: CommandMeta = {
        commandId: idCheck.data.commandId,
        actor: req.subject.userId,
        privilege: req.subject.privilege,
        now: now.toISOString(),
      };
      const parsed = parseCommand(req.subject.action, rest, meta);
      if (!parsed.ok)
        throw new InvalidError(`invalid ${req.subject.action} command`, { details: zodDetails(parsed.error) });
      const plan = this.plan(parsed.parsed, now.getTime());
      return await this.queue.run(plan.target.subject, () => this.execute(plan, meta, copied));
    } catch (err) {
      const outcome: CommandOutcome = { reply: errorReply(err), commandId, attempts: 0, replayed: false };
      if (!(err instanceof NatterError) || err.code === "unavailable") outcome.fault = err;
      return outcome;
    }
  }

  /** Waits for command-index and snapshot writes under way (each settles: a lost connection fails neither). */
  async flush(): Promise<void> {
    await Promise.allSettled([this.store.requests.flushed(), this.repo.flush()]);
  }

  /**
   * True when the server's duplicate detection covers every earlier use of `id`: a ULID made
   * within the duplicate window less the skew allowance. An id dated beyond the allowance in the
   * future is refused; any other (older, or not a ULID) needs a lookup.
   */
  private young(id: string, field: string, now: number): boolean {
    const t = ulidTime(id);
    if (t === undefined) return false;
    if (t > now + this.clockSkewMs) {
      throw new InvalidError(
        `${field} is dated ${Math.round((t - now) / 1000)} s in the future: make ids (ULIDs) with a clock that is right`,
        {
          details: { fields: [{ path: field, message: "dated in the future", code: "future_id" }] },
        },
      );
    }
    return t >= now - this.duplicateWindowMs + this.clockSkewMs;
  }

  private plan(parsed: ParsedCommand, now: number): Plan {
    const young = this.young(parsed.command.meta.commandId, "commandId", now);
    switch (parsed.aggregate) {
      case "room": {
        const command = parsed.command;
        const created = command.type === "create";
        const roomId =
          "roomId" in command.data && command.data.roomId !== undefined ? command.data.roomId : command.meta.commandId;
        return {
          target: { subject: roomSubject(roomId), spec: roomSpec as AggregateSpec<unknown> },
          // A new room's append expects sequence 0 on its own subject: the server makes it unique.
          blank: created && young,
          reads: [],
          indexed: !created || (command.type === "create" && command.data.roomId !== undefined),
          decide: (target) => roomDecider.decide(command, target as RoomState, undefined),
        };
      }
      case "msg":
        return this.messagePlan(parsed.command, young, now);
      case "user": {
        const command = parsed.command;
        return {
          target: { subject: userSubject(command.meta.actor), spec: userSpec as AggregateSpec<unknown> },
          blank: false,
          reads: [],
          indexed: true,
          decide: (target) => userDecider.decide(command, target as UserState, undefined),
        };
      }
    }
  }

  private messagePlan(command: MessageCommand, young: boolean, now: number): Plan {
    const roomId = command.data.roomId;
    const room = { subject: roomSubject(roomId), spec: roomSpec as AggregateSpec<unknown> };
    const decide = (target: unknown, reads: readonly unknown[]) => {
      const [roomState, threadRoot] = reads as [RoomState, MessageState | undefined];
      return messageDecider.decide(
        command,
        target as MessageState,
        threadRoot === undefined ? { room: roomState } : { room: roomState, threadRoot },
      );
    };
    if (command.type !== "post") {
      // The message's own sequence guards the append; the room's membership is read current.
      return {
        target: {
          subject: messageSubject(roomId, command.data.messageId),
          spec: messageSpec as AggregateSpec<unknown>,
        },
        blank: false,
        reads: [{ ...room, current: true }],
        indexed: true,
        decide,
      };
    }
    const given = command.data.messageId;
    const messageId = given ?? command.meta.commandId;
    const root = command.data.threadRootId;
    // Always checked, so a messageId dated in the future is refused whatever the commandId is.
    const givenYoung = given === undefined || this.young(given, "messageId", now);
    return {
      target: { subject: messageSubject(roomId, messageId), spec: messageSpec as AggregateSpec<unknown> },
      blank: young && givenYoung,
      // The room guards the post, so its cached state serves. A thread's root is read to the log's
      // end (one last-sequence read, for replies only): a root deleted through another instance is
      // a room event of no kind, so the room's guard would not see it.
      reads:
        root === undefined
          ? [{ ...room, current: false }]
          : [
              { ...room, current: false },
              { subject: messageSubject(roomId, root), spec: messageSpec as AggregateSpec<unknown>, current: true },
            ],
      guard: { read: 0, msgId: postMessageId(roomId, messageId) },
      indexed: given !== undefined,
      decide,
    };
  }

  /** The aggregate as of now: the cached state checked against the subject's last sequence (one direct get), refreshed only when it moved. */
  private async current(ref: Ref): Promise<Aggregate<unknown>> {
    const [agg, last] = await Promise.all([this.repo.load(ref.subject, ref.spec), this.store.lastSeqOf(ref.subject)]);
    if (last !== agg.seq) await this.repo.refresh(agg, ref.spec);
    return agg;
  }

  /**
   * The retry loop every plan runs. Each attempt loads what the plan names (verified: read to the
   * log's end), decides, and appends with the guard's expected sequence. A conflict refreshes what
   * the guard names and decides again; a refusal or a no-op decided on a state that may be stale is
   * decided again on a verified one before it is answered. At most maxAttempts attempts.
   */
  private async execute(plan: Plan, meta: CommandMeta, copied: CopiedHeaders): Promise<CommandOutcome> {
    const key = commandKey(meta.actor, meta.commandId);
    const lookup = !plan.blank && (plan.indexed || plan.guard !== undefined);
    const indexed =
      lookup && this.commandIndex !== undefined
        ? this.commandIndex.get(meta.actor, meta.commandId)
        : Promise.resolve(null);
    let verified = false;
    // A refusal or no-op is decided once more on verified state before it is answered, even when
    // that takes one attempt past the limit: it is never answered as a conflict.
    let attempts = this.maxAttempts;
    const verify = (attempt: number) => {
      verified = true;
      if (attempt === attempts) attempts++;
    };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const blank = plan.blank && !verified;
      const [target, reads, hit] = await Promise.all([
        blank
          ? this.repo.blank(plan.target.subject, plan.target.spec)
          : // A guarded append (a post) does not check the target's own subject: when the target
            // is not taken as new, it is read to the log's end, so a post on a message that exists
            // (an old or reused id, a stale cache) is refused, never appended twice.
            this.repo.load(plan.target.subject, plan.target.spec, { fresh: verified || plan.guard !== undefined }),
        Promise.all(
          plan.reads.map((r) => (r.current || verified ? this.current(r) : this.repo.load(r.subject, r.spec))),
        ),
        attempt === 1 ? indexed : Promise.resolve<IndexedCommand | null>(null),
      ]);
      const remembered = this.repo.remembered(target, key) ?? hit?.seq;
      // Found without the index (the aggregate remembers it): the index may have missed it (an
      // instance killed before its write went out), so the replay writes it again.
      if (remembered !== undefined)
        return this.replayed(
          await this.replay(remembered, meta, hit?.seq === remembered || !plan.indexed),
          meta,
          attempt,
        );

      // The sequences and the states in one synchronous step: another command's refresh may fold
      // events into these shared states while this one waits, and the append must expect the
      // sequence of what it decided on.
      const guardRead = plan.guard === undefined ? undefined : reads[plan.guard.read]!;
      const expected = guardRead?.seq ?? target.seq;
      let events: DomainEvent[];
      try {
        events = plan.decide(
          target.state,
          reads.map((r) => r.state),
        );
      } catch (err) {
        // A refusal must not rest on a stale cache: look again before answering it.
        if (err instanceof NatterError && !verified) {
          verify(attempt);
          continue;
        }
        throw err;
      }
      if (events.length === 0) {
        if (!verified) {
          verify(attempt);
          continue;
        }
        return {
          reply: { ok: true, result: {}, seq: target.seq },
          commandId: meta.commandId,
          attempts: attempt,
          replayed: false,
        };
      }
      if (events.length !== 1)
        throw new Error(`a decision appended ${events.length} events; natter appends exactly one`);
      const event = events[0]!;
      const encoded = encodeEvent(event, {
        actor: meta.actor,
        commandId: meta.commandId,
        correlationId: copied.correlationId ?? meta.commandId,
        causationId: meta.commandId,
        trace: copied.trace,
        ...(plan.guard ? { msgId: plan.guard.msgId } : {}),
      });
      if (encoded.subject !== plan.target.subject)
        throw new Error(`event ${event.type} belongs on ${encoded.subject}, not ${plan.target.subject}`);
      try {
        const ack = await this.store.append(encoded, expected, guardRead?.subject);
        if (ack.duplicate) {
          this.repo.evict(plan.target.subject);
          return this.replayed(await this.replay(ack.seq, meta, !plan.indexed), meta, attempt);
        }
        this.repo.applied(target, plan.target.spec, event, ack.seq, key);
        if (plan.indexed)
          this.commandIndex?.put(meta.actor, meta.commandId, { seq: ack.seq, subject: plan.target.subject });
        return {
          reply: { ok: true, result: resultOf(event, ack.seq), seq: ack.seq },
          commandId: meta.commandId,
          attempts: attempt,
          replayed: false,
        };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        if (guardRead !== undefined) await this.repo.refresh(guardRead, plan.reads[plan.guard!.read]!.spec);
        else verified = true;
        // Back off a little, with jitter, so instances racing on one aggregate spread out.
        if (attempt > 1) await sleep(Math.random() * 2 ** Math.min(attempt, 6));
      }
    }
    throw new ConflictError(`the aggregate kept changing; gave up after ${this.maxAttempts} attempts`, {
      details: { subject: plan.target.subject },
    });
  }

  private replayed(reply: CommandReply, meta: CommandMeta, attempts: number): CommandOutcome {
    return { reply, commandId: meta.commandId, attempts, replayed: true };
  }

  /**
   * The first answer to a command already applied at `seq`; `indexed` false writes it to the
   * command index too. An event there that is not this command's (a message id another command or
   * another user took) is refused, never answered as theirs.
   */
  private async replay(seq: number, meta: CommandMeta, indexed: boolean): Promise<CommandReply> {
    const envelope: EventEnvelope | null = await this.store.readEvent(seq);
    if (envelope === null)
      throw new NotFoundError(`command ${meta.commandId} was recorded at ${seq} but that event is not in the log`);
    if (envelope.commandId !== meta.commandId || envelope.actor !== meta.actor) {
      throw new ConflictError(`that id is taken by an earlier command: choose another messageId (or roomId)`, {
        details: { seq },
      });
    }
    if (!indexed) this.commandIndex?.put(meta.actor, meta.commandId, { seq, subject: envelope.subject });
    return { ok: true, result: resultOf(envelope.event, seq), seq };
  }
}

/** Any thrown value as an error reply: NatterErrors as they are, anything else as `unavailable`. */
export function errorReply(err: unknown): CommandReply {
  if (err instanceof NatterError) return { ok: false, error: err.toJSON() };
  return { ok: false, error: { code: "unavailable", message: "the command could not be handled; try again" } };
}

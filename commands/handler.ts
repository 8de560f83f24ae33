import type { MsgHdrs } from "@nats-io/transport-node";
import { copiedHeaders, type CopiedHeaders } from "./copiedHeaders.ts";
import { z } from "zod";
import {
  assertStorable,
  COMMANDS,
  CommandId,
  ConflictError,
  decideMessage,
  decideRoom,
  decideUser,
  InvalidError,
  NatterError,
  NotFoundError,
  type CommandMeta,
  type DomainEvent,
  type MessageCommand,
  type MessageState,
  type RoomCommand,
  type RoomState,
  type UserCommand,
  type UserState,
} from "../domain/index.ts";
import {
  AggregateRepository,
  commandKey,
  encodeEvent,
  messageSubject,
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
import { KeyedQueue } from "./keyedQueue.ts";
import type { CommandSubject } from "./subject.ts";

/** The reply to a command (DESIGN.md, "Commands"). */
export type CommandReply =
  | { ok: true; result: Record<string, unknown>; seq: number }
  | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };

/** The largest command body accepted, in bytes. A body of 8,000 characters fits with room to spare. */
export const MAX_COMMAND_BYTES = 64 * 1024;

export type CommandHandlerOptions = {
  /** Attempts at one command when appends conflict, before answering `conflict`. */
  maxAttempts?: number;
  /** The clock, for the decision's `now`. */
  now?: () => Date;
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

type Plan = {
  /** The aggregate the command changes. */
  subject: string;
  /**
   * Decides on the loaded aggregate (and whatever else it loads fresh); returns the events. Sets
   * `seen.at` to the aggregate's sequence in the same synchronous step as it reads the state: a
   * refresh elsewhere (a post reads its room fresh) may fold events in while it waits, and the
   * append must expect the sequence of the state it decided on, not a later one.
   */
  decide: (agg: Aggregate<unknown>, seen: { at: number }) => Promise<DomainEvent[]>;
  spec: AggregateSpec<unknown>;
  /**
   * The command names a new aggregate (a post's message, a created room): the first attempt
   * decides on a blank one instead of reading the log, and the append's expected sequence 0 is the
   * check. A repeat or a taken id fails it, and the next attempt does the full read.
   */
  assumeNew?: boolean;
};

/**
 * What a plan decided: its events, or the error it threw (a refusal, or a failed read), and the
 * aggregate's sequence when it read the state.
 */
type Decision = { at: number } & ({ events: DomainEvent[] } | { error: unknown });

function decide(plan: Plan, agg: Aggregate<unknown>): Promise<Decision> {
  const seen = { at: agg.seq };
  return plan.decide(agg, seen).then(
    (events) => ({ at: seen.at, events }),
    (error: unknown) => ({ at: seen.at, error }),
  );
}

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
 * Validates, authorizes, decides and appends one command, answering exactly what DESIGN.md
 * promises: the same commandId gives the same answer and one set of events, however far apart.
 * Within the duplicate window JetStream's `Nats-Msg-Id` catches a repeat; after it, the
 * aggregate's remembered command ids and the command index do.
 */
export class CommandHandler {
  private readonly queue = new KeyedQueue();
  private readonly maxAttempts: number;
  private readonly now: () => Date;

  constructor(
    private readonly store: EventStore,
    private readonly repo: AggregateRepository,
    private readonly commandIndex: CommandIndex | undefined,
    options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.now = options.now ?? (() => new Date());
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
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new InvalidError("the command body must be a JSON object");
      assertStorable(body, `${req.subject.action} command`);
      const copied = copiedHeaders(req.headers);
      const idCheck = commandIdOnly.safeParse(body);
      if (!idCheck.success) throw new InvalidError("commandId is missing or not a valid id (use a ULID)", { details: zodDetails(idCheck.error) });
      commandId = idCheck.data.commandId;
      const { commandId: _, ...rest } = body as Record<string, unknown>;
      const definition = COMMANDS.get(req.subject.action)!;
      const parsed = definition.body.safeParse(rest);
      if (!parsed.success) throw new InvalidError(`invalid ${req.subject.action} command`, { details: zodDetails(parsed.error) });
      const meta: CommandMeta = { commandId: idCheck.data.commandId, actor: req.subject.userId, privilege: req.subject.privilege, now: this.now().toISOString() };
      const plan = this.plan(definition.aggregate, definition.action, parsed.data as Record<string, unknown>, meta);
      return await this.queue.run(plan.subject, () => this.execute(plan, meta, copied));
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

  private plan(aggregate: string, action: string, data: Record<string, unknown>, meta: CommandMeta): Plan {
    switch (aggregate) {
      case "room": {
        const roomId = (data["roomId"] as string | undefined) ?? meta.commandId;
        const command = { type: action, data, meta } as RoomCommand;
        return {
          subject: roomSubject(roomId),
          spec: roomSpec as AggregateSpec<unknown>,
          decide: async (agg, seen) => {
            seen.at = agg.seq;
            return decideRoom(command, agg.state as RoomState);
          },
          assumeNew: action === "create",
        };
      }
      case "msg": {
        const roomId = data["roomId"] as string;
        const messageId = (data["messageId"] as string | undefined) ?? meta.commandId;
        const threadRootId = data["threadRootId"] as string | undefined;
        const command = { type: action, data, meta } as MessageCommand;
        return {
          subject: messageSubject(roomId, messageId),
          spec: messageSpec as AggregateSpec<unknown>,
          // Another aggregate's state guards the decision but not the append: read it fresh.
          decide: async (agg, seen) => {
            const [room, root] = await Promise.all([
              this.freshEnough(roomSubject(roomId), roomSpec),
              threadRootId === undefined ? undefined : this.repo.load(messageSubject(roomId, threadRootId), messageSpec, { fresh: true }),
            ]);
            const context = root === undefined ? { room: room.state } : { room: room.state, threadRoot: root.state };
            seen.at = agg.seq;
            return decideMessage(command, agg.state as MessageState, context);
          },
          assumeNew: action === "post",
        };
      }
      case "user": {
        const command = { type: action, data, meta } as UserCommand;
        return {
          subject: userSubject(meta.actor),
          spec: userSpec as AggregateSpec<unknown>,
          decide: async (agg, seen) => {
            seen.at = agg.seq;
            return decideUser(command, agg.state as UserState);
          },
        };
      }
      default:
        throw new InvalidError(`unknown aggregate ${aggregate}`);
    }
  }

  /**
   * An aggregate as of now, read after the command arrived: the cached state, checked against
   * the subject's last sequence with one direct get (no subscription, no error when empty), and
   * refreshed only when it moved.
   */
  private async freshEnough<S>(subject: string, spec: AggregateSpec<S>): Promise<Aggregate<S>> {
    const [agg, last] = await Promise.all([this.repo.load(subject, spec), this.store.lastSeqOf(subject)]);
    if (last !== agg.seq) await this.repo.refresh(agg, spec);
    return agg;
  }

  private async execute(plan: Plan, meta: CommandMeta, copied: CopiedHeaders): Promise<CommandOutcome> {
    const key = commandKey(meta.actor, meta.commandId);
    const indexed = this.commandIndex?.get(meta.actor, meta.commandId) ?? Promise.resolve(null);
    let fresh = false;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      let agg: Aggregate<unknown>;
      let hit: IndexedCommand | null = null;
      let decided: Promise<Decision> | undefined;
      const blank = plan.assumeNew === true && attempt === 1 && !fresh;
      if (blank) {
        // A new aggregate: decide on a blank one at once, while the command index is read.
        agg = this.repo.blank(plan.subject, plan.spec);
        decided = decide(plan, agg);
        hit = await indexed;
      } else {
        [agg, hit] = await Promise.all([this.repo.load(plan.subject, plan.spec, { fresh }), attempt === 1 ? indexed : null]);
      }
      const remembered = this.repo.remembered(agg, key) ?? hit?.seq;
      // Found without the index (the aggregate remembers it): the index may have missed it (an
      // instance killed before its write went out), so the replay writes it again.
      if (remembered !== undefined) return { reply: await this.replay(remembered, meta, hit?.seq === remembered), commandId: meta.commandId, attempts: attempt, replayed: true };

      const decision = await (decided ?? decide(plan, agg));
      if ("error" in decision) {
        const err = decision.error;
        // A refusal must not rest on a stale cache: look again before answering it (a blank is
        // loaded, snapshot and all, rather than read from its first event).
        if (blank && err instanceof NatterError) {
          fresh = true;
          attempt--;
          continue;
        }
        if (!fresh && err instanceof NatterError) {
          await this.repo.refresh(agg, plan.spec);
          if (agg.seq !== decision.at || this.repo.remembered(agg, key) !== undefined) {
            fresh = true;
            attempt--;
            continue;
          }
        }
        throw err;
      }
      const events = decision.events;
      if (events.length === 0) {
        // A no-op stands only on the newest state: decided on an older one (a stale cache, or a
        // refresh elsewhere folded events in meanwhile, this command's own perhaps), decide again.
        if (blank) {
          fresh = true;
          attempt--;
          continue;
        }
        if (!fresh) await this.repo.refresh(agg, plan.spec);
        if (agg.seq !== decision.at || this.repo.remembered(agg, key) !== undefined) {
          if (!fresh) attempt--;
          fresh = true;
          continue;
        }
        return { reply: { ok: true, result: {}, seq: decision.at }, commandId: meta.commandId, attempts: attempt, replayed: false };
      }
      if (events.length !== 1) throw new Error(`a decision appended ${events.length} events; natter appends exactly one`);
      const event = events[0]!;
      const encoded = encodeEvent(event, { actor: meta.actor, commandId: meta.commandId, correlationId: copied.correlationId ?? meta.commandId, causationId: meta.commandId, trace: copied.trace });
      if (encoded.subject !== plan.subject) throw new Error(`event ${event.type} belongs on ${encoded.subject}, not ${plan.subject}`);
      try {
        const ack = await this.store.append(encoded, decision.at);
        if (ack.duplicate) {
          this.repo.evict(plan.subject);
          return { reply: await this.replay(ack.seq, meta, false), commandId: meta.commandId, attempts: attempt, replayed: true };
        }
        this.repo.applied(agg, plan.spec, event, ack.seq, key);
        this.commandIndex?.put(meta.actor, meta.commandId, { seq: ack.seq, subject: plan.subject });
        return { reply: { ok: true, result: resultOf(event, ack.seq), seq: ack.seq }, commandId: meta.commandId, attempts: attempt, replayed: false };
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        fresh = true;
        // Back off a little, with jitter, so instances racing on one aggregate spread out.
        if (attempt > 1) await sleep(Math.random() * 2 ** Math.min(attempt, 6));
      }
    }
    throw new ConflictError(`the aggregate kept changing; gave up after ${this.maxAttempts} attempts`, { details: { subject: plan.subject } });
  }

  /** The first answer to a command already applied at `seq`; `indexed` false writes it to the command index too. */
  private async replay(seq: number, meta: CommandMeta, indexed: boolean): Promise<CommandReply> {
    const envelope: EventEnvelope | null = await this.store.readEvent(seq);
    if (envelope === null || envelope.commandId !== meta.commandId || envelope.actor !== meta.actor) {
      throw new NotFoundError(`command ${meta.commandId} was recorded at ${seq} but that event is not its own`);
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

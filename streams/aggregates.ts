import type { KV } from "@nats-io/kv";
import type { DomainEvent } from "../domain/index.ts";
import type { EventEnvelope } from "./envelope.ts";
import type { EventStore } from "./eventStore.ts";

/** How to fold, copy and serialize one kind of aggregate. */
export type AggregateSpec<S> = {
  readonly initialState: () => S;
  /** Folds an event into the state; may update it in place. */
  readonly evolve: (state: S, event: DomainEvent) => S;
  readonly toJson: (state: S) => unknown;
  readonly fromJson: (json: never) => S;
  /** Bumped when the state's shape changes, so older snapshots are ignored. */
  readonly version: number;
};

/** An aggregate's state at a sequence, with the commands it applied most recently. */
export type Aggregate<S> = {
  readonly subject: string;
  /** The sequence of the last event folded in (0: none). */
  seq: number;
  state: S;
  /** `<actor>:<commandId>` → the sequence of the event it appended, the most recent ones. */
  commands: Map<string, number>;
  /** Events folded in since the last snapshot was written or read. */
  sinceSnapshot: number;
  /**
   * The command that appended the aggregate's first event (`<actor>:<commandId>` and its
   * sequence), remembered for good: the command that created a message or a room is found however
   * many events came after it, without the command index.
   */
  origin?: { key: string; seq: number };
};

export type AggregateRepositoryOptions = {
  /** Aggregates kept in memory; the least recently used go first. */
  cacheSize?: number;
  /** A snapshot is written once this many events have accumulated since the last one. */
  snapshotEvery?: number;
  /** Command ids remembered per aggregate (older ones are found through the command index). */
  commandMemory?: number;
};

type SnapshotJson = { v: number; seq: number; state: unknown; commands: [string, number][]; origin?: [string, number] };

/** The key under which a command is remembered: who sent it, and its id. */
export function commandKey(actor: string, commandId: string): string {
  return `${actor}:${commandId}`;
}

/**
 * Loads aggregates from the log without creating a consumer: a bounded cache of recent states, KV
 * snapshots for long aggregates, and batched direct get for the events after either. A stale
 * cached state is safe for deciding: the append expects its sequence, so staleness costs one
 * conflict, and callers refresh before trusting a refusal.
 */
export class AggregateRepository {
  private readonly cache = new Map<string, Aggregate<unknown>>();
  private readonly cacheSize: number;
  private readonly snapshotEvery: number;
  private readonly commandMemory: number;
  private readonly pendingWrites = new Set<Promise<unknown>>();

  constructor(
    private readonly store: EventStore,
    private readonly snapshots: KV | undefined,
    options: AggregateRepositoryOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 10_000;
    this.snapshotEvery = options.snapshotEvery ?? 100;
    this.commandMemory = options.commandMemory ?? 1000;
  }

  /**
   * The aggregate on `subject`. With `fresh`, events appended since the cached state are read
   * first (one direct get); without it a cached state is returned as it is.
   */
  async load<S>(subject: string, spec: AggregateSpec<S>, options: { fresh?: boolean } = {}): Promise<Aggregate<S>> {
    const cached = this.cache.get(subject) as Aggregate<S> | undefined;
    if (cached !== undefined) {
      this.cache.delete(subject);
      this.cache.set(subject, cached as Aggregate<unknown>);
      if (options.fresh) this.fold(cached, spec, await this.store.readSubject(subject, cached.seq));
      return cached;
    }
    const agg = (await this.readSnapshot(subject, spec)) ?? {
      subject,
      seq: 0,
      state: spec.initialState(),
      commands: new Map(),
      sinceSnapshot: 0,
    };
    this.fold(agg, spec, await this.store.readSubject(subject, agg.seq));
    return this.remember(subject, agg);
  }

  /**
   * The aggregate on `subject` as the cache has it, else a blank one at sequence 0, without
   * reading anything: for a command that creates its aggregate (a post names a new message). The
   * append still expects the blank's sequence, so an aggregate that does exist costs one conflict,
   * after which the caller loads it (snapshot and all). A blank is cached once an event is applied
   * to it, not before: a blank held for a subject that has events would make the next load read
   * them all from the first, past its snapshot.
   */
  blank<S>(subject: string, spec: AggregateSpec<S>): Aggregate<S> {
    const cached = this.cache.get(subject) as Aggregate<S> | undefined;
    if (cached !== undefined) return cached;
    return { subject, seq: 0, state: spec.initialState(), commands: new Map(), sinceSnapshot: 0 };
  }

  /** The sequence of the event that `key` (`<actor>:<commandId>`) appended, if the aggregate remembers it. */
  remembered(agg: Aggregate<unknown>, key: string): number | undefined {
    return agg.commands.get(key) ?? (agg.origin?.key === key ? agg.origin.seq : undefined);
  }

  /** Reads the log for events after the aggregate's sequence and folds them in. */
  async refresh<S>(agg: Aggregate<S>, spec: AggregateSpec<S>): Promise<Aggregate<S>> {
    this.fold(agg, spec, await this.store.readSubject(agg.subject, agg.seq));
    return agg;
  }

  /**
   * Folds events into the aggregate, skipping any at or below its sequence (two concurrent
   * refreshes of one aggregate apply each event once).
   */
  fold<S>(agg: Aggregate<S>, spec: AggregateSpec<S>, events: EventEnvelope[]): void {
    for (const e of events) {
      if (e.seq <= agg.seq) continue;
      if (agg.seq === 0 && e.commandId) agg.origin = { key: commandKey(e.actor, e.commandId), seq: e.seq };
      agg.state = spec.evolve(agg.state, e.event);
      agg.seq = e.seq;
      agg.sinceSnapshot++;
      if (e.commandId) this.rememberCommand(agg, commandKey(e.actor, e.commandId), e.seq);
    }
  }

  /** Records an event this process appended, and writes a snapshot when one is due. */
  applied<S>(agg: Aggregate<S>, spec: AggregateSpec<S>, event: DomainEvent, seq: number, key: string): void {
    if (seq <= agg.seq) return;
    if (agg.seq === 0) {
      agg.origin = { key, seq };
      if (this.cache.get(agg.subject) === undefined) this.remember(agg.subject, agg as Aggregate<unknown>);
    }
    agg.state = spec.evolve(agg.state, event);
    agg.seq = seq;
    agg.sinceSnapshot++;
    this.rememberCommand(agg, key, seq);
    if (this.snapshots !== undefined && agg.sinceSnapshot >= this.snapshotEvery) this.writeSnapshot(agg, spec);
  }

  /** Forgets a cached aggregate (after a conflict, say). */
  evict(subject: string): void {
    this.cache.delete(subject);
  }

  /** Waits for snapshot writes under way. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.pendingWrites]);
  }

  private rememberCommand(agg: Aggregate<unknown>, key: string, seq: number): void {
    agg.commands.set(key, seq);
    if (agg.commands.size > this.commandMemory) {
      const oldest = agg.commands.keys().next().value;
      if (oldest !== undefined) agg.commands.delete(oldest);
    }
  }

  private remember<S>(subject: string, agg: Aggregate<S>): Aggregate<S> {
    this.cache.set(subject, agg as Aggregate<unknown>);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return agg;
  }

  private snapshotKey(subject: string): string {
    return subject.startsWith("ev.") ? subject.slice(3) : subject;
  }

  private async readSnapshot<S>(subject: string, spec: AggregateSpec<S>): Promise<Aggregate<S> | null> {
    if (this.snapshots === undefined) return null;
    try {
      const entry = await this.snapshots.get(this.snapshotKey(subject));
      if (entry === null || entry.operation !== "PUT") return null;
      const snap = entry.json<SnapshotJson>();
      if (snap.v !== spec.version) return null;
      const agg: Aggregate<S> = {
        subject,
        seq: snap.seq,
        state: spec.fromJson(snap.state as never),
        commands: new Map(snap.commands),
        sinceSnapshot: 0,
      };
      if (snap.origin !== undefined) agg.origin = { key: snap.origin[0], seq: snap.origin[1] };
      return agg;
    } catch {
      // A missing or unreadable snapshot only costs reading the whole aggregate.
      return null;
    }
  }

  private writeSnapshot<S>(agg: Aggregate<S>, spec: AggregateSpec<S>): void {
    const snap: SnapshotJson = {
      v: spec.version,
      seq: agg.seq,
      state: spec.toJson(agg.state),
      commands: [...agg.commands],
    };
    if (agg.origin !== undefined) snap.origin = [agg.origin.key, agg.origin.seq];
    agg.sinceSnapshot = 0;
    const write = this.snapshots!.put(this.snapshotKey(agg.subject), JSON.stringify(snap)).catch(() => {
      // A lost snapshot is written again after the next snapshotEvery events.
    });
    this.pendingWrites.add(write);
    void write.finally(() => this.pendingWrites.delete(write));
  }
}

import type { NatsConnection } from "@nats-io/transport-node";
import type { AppliedAnnouncement } from "../projections/index.ts";
import type { CheckpointWatch } from "./checkpoints.ts";
import type { Message } from "./schemas.ts";

/**
 * A room's top-level messages on both sides of a position `p`: `before` holds the last (at most
 * `nBefore`) with a sequence below `p`, `after` the first (at most `nAfter`) from `p` on; both
 * oldest first. `p` is Infinity for "the newest".
 */
export type TimelineWindow = { before: Message[]; after: Message[] };
/** Reads a window from the read model. */
export type WindowFetch = (p: number, nBefore: number, nAfter: number) => Promise<TimelineWindow>;

/**
 * Every top-level message of a room with `lo <= seq <= hi`, oldest first. `lo` 0: from the room's
 * first message; `hi` Infinity: up to its newest (when it was read).
 */
type Segment = { lo: number; hi: number; msgs: Message[] };

type RoomEntry = {
  born: number;
  /** Disjoint and not adjacent, by `lo`. */
  segments: Segment[];
  /** The caller's access row by caller key; undefined: not loaded. */
  access: Map<string, unknown>;
  /** Messages plus access rows held: what counts against the bound. */
  size: number;
  /** The estimated bytes of what it holds (messageBytes, ACCESS_BYTES). */
  bytes: number;
  /**
   * Reads under way for this entry, by what they read: a caller that misses on the same thing
   * meanwhile waits for that read instead of making its own (a reconnecting crowd opening one
   * room). Dropping the entry drops them: a caller after an announcement never gets a read
   * started before it.
   */
  reading: Map<string, Promise<unknown>>;
};

/** The projections whose announcements invalidate a room: its timeline and its membership. */
const WATCHED = ["timeline", "rooms"] as const;
/** Messages read on each side of a position on a miss (at least what the page needs). */
const BLOCK = 250;
const MAX_ACCESS_PER_ROOM = 10_000;
/** A room holds at most a quarter of the cache's bound, and never less than this. */
const MIN_ROOM_CAP = 1000;
/** A room that changed within this long is read page by page, not by blocks (see `window`). */
const QUIET_MS = 2000;
const MAX_CHANGED_NOTES = 100_000;
/** What an access row is taken to weigh, in bytes (a small object and its key). */
const ACCESS_BYTES = 256;
/** What a message weighs besides its texts: the object, its ids and times. */
const MESSAGE_OVERHEAD = 600;

/**
 * An estimate of the memory a held message takes: the object and its strings, and the JSON text
 * of it that resultJson memoizes (a body of 8,000 characters weighs about 32 KB, a short one under
 * 1 KB). It only has to be proportionate: the bound in bytes is what keeps long messages (posted
 * to fill memory, say) from costing what the bound in messages would allow.
 */
export function messageBytes(m: Message): number {
  let n = MESSAGE_OVERHEAD + 4 * m.body.length;
  for (const r of m.reactions) n += 64 + 4 * r.emoji.length + 64 * r.userIds.length;
  return n;
}

function bytesOf(msgs: readonly Message[]): number {
  let n = 0;
  for (const m of msgs) n += messageBytes(m);
  return n;
}

export type TimelineCacheOptions = {
  /** Messages (plus access rows) held in all, across rooms; the rooms used least recently go first. */
  maxEntries: number;
  /**
   * Estimated bytes held in all (messageBytes), likewise (default: no bound but maxEntries). One
   * room holds at most a quarter of it.
   */
  maxBytes?: number;
  /** Messages one room may hold (default a quarter of maxEntries, at least MIN_ROOM_CAP). */
  roomCap?: number;
  /** Messages read on each side of a position on a miss (default BLOCK). */
  block?: number;
  /** A room changed within this long is read a page at a time, not a block (default 2 s). */
  quietMs?: number;
  /** An entry older than this is read again, whatever the announcements said (default 60 s). */
  ttlMs?: number;
  now?: () => number;
};

/**
 * The read API's cache of timeline pages and room access, kept in step with the projections: each
 * projector announces, after its commit, the rooms its batch touched (AppliedAnnouncement), and the
 * cache drops those rooms. It drops everything when it may have missed an announcement (a gap
 * between one's `from` and the last `seq` it saw, a disconnect, a slow-consumer error) and re-reads
 * any entry older than `ttlMs`. An answer read from the database while its room was dropped is
 * given to its caller but not kept.
 *
 * What it keeps are segments: for a range of sequences, every top-level message of the room, so a
 * page anywhere in a segment (before, after, around, latest) is answered without the database;
 * a miss reads a block of BLOCK messages on each side of the position and merges it with its
 * neighbours. A room that changed in the last QUIET_MS (a busy one, dropped at every batch) is read
 * only as far as the page needs, so the cache never reads more than the page would without it.
 */
export class TimelineCache {
  private readonly rooms = new Map<string, RoomEntry>();
  private size = 0;
  private bytes = 0;
  /** The newest `seq` announced per watched projection since the cache last started afresh. */
  private readonly seen = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** When each room last changed (by the announcements), oldest first. */
  private readonly changedAt = new Map<string, number>();
  private closed = false;
  /** Counts for /metrics and tests. */
  readonly stats = { hits: 0, misses: 0, shared: 0, invalidations: 0, evictions: 0, resets: 0 };

  constructor(private readonly options: TimelineCacheOptions) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Starts taking in the projectors' announcements from `watch` (which has the one subscription to
   * them), and drops everything when `nc` loses touch with the server (announcements may have been
   * lost while away, or dropped for a slow consumer).
   */
  async listen(watch: CheckpointWatch, nc: NatsConnection): Promise<this> {
    void (async () => {
      for await (const s of nc.status()) {
        if (this.closed) return;
        if (s.type === "disconnect" || s.type === "reconnect" || s.type === "slowConsumer") this.reset();
      }
    })().catch(() => this.reset());
    await watch.listen({ applied: (name, a) => this.applied(name, a), lost: () => this.reset() });
    return this;
  }

  stop(): void {
    this.closed = true;
    this.reset();
    this.seen.clear();
  }

  /** One projector's announcement: drops the rooms it names, or everything when it may have missed one. */
  applied(name: string, a: AppliedAnnouncement): void {
    if (!(WATCHED as readonly string[]).includes(name)) return;
    const last = this.seen.get(name);
    // The first announcement heard, or one that starts past the last: any before it may be lost.
    if (a.from !== undefined && (last === undefined || a.from > last)) {
      this.reset();
    } else if (a.rooms === undefined || a.rooms === null) {
      this.reset();
    } else {
      for (const r of a.rooms) {
        if (this.drop(r)) this.stats.invalidations++;
        this.changed(r);
      }
    }
    this.seen.set(name, Math.max(this.seen.get(name) ?? 0, a.seq));
  }

  /**
   * True when the cache shows at least what a reader asking for `minSeq = seq` must see: for each
   * watched projection it took in the announcements up to `seq`, or up to `applied[name]` where
   * that projection reads nothing between it and `seq` (what CheckpointWatch.reached found).
   * Otherwise read the database.
   */
  covers(seq: number, applied: Readonly<Record<string, number>> = {}): boolean {
    return seq <= 0 || WATCHED.every((n) => (this.seen.get(n) ?? -1) >= Math.min(seq, applied[n] ?? seq));
  }

  /**
   * Drops every entry. What was seen of the announcements stays: an empty cache is right at any
   * point, and what it reads from now on is at least as new as the announcements it saw.
   */
  reset(): void {
    this.rooms.clear();
    this.size = 0;
    this.stats.resets++;
  }

  /** The caller's access row for a room, from `load` when not held (undefined: no such room, not kept). */
  async access<T>(roomId: string, key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const held = this.entry(roomId);
    if (held !== undefined && held.access.has(key)) {
      this.stats.hits++;
      return held.access.get(key) as T;
    }
    this.stats.misses++;
    const e = held ?? this.create(roomId);
    const row = await this.once(e, `a\u0000${key}`, load);
    if (this.rooms.get(roomId) !== e || e.access.has(key)) return row;
    if (row === undefined) {
      if (e.size === 0) this.rooms.delete(roomId);
      return row;
    }
    if (e.access.size >= MAX_ACCESS_PER_ROOM) {
      this.grow(e, -e.access.size, -e.access.size * ACCESS_BYTES);
      e.access.clear();
    }
    e.access.set(key, row);
    this.grow(e, 1, ACCESS_BYTES);
    this.evict();
    return row;
  }

  /** A window of the room's timeline (see TimelineWindow), from the segments held or through `fetch`. */
  async window(
    roomId: string,
    p: number,
    nBefore: number,
    nAfter: number,
    fetch: WindowFetch,
  ): Promise<TimelineWindow> {
    const held = this.entry(roomId);
    const hit = held === undefined ? undefined : take(held.segments, p, nBefore, nAfter);
    if (hit !== undefined) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    const e = held ?? this.create(roomId);
    // A room written to moments ago will likely be dropped again soon: read only what is asked.
    const block = this.recentlyChanged(roomId) ? 0 : (this.options.block ?? BLOCK);
    // At least one on each side, so the segment read reaches across `p` (see take).
    const nb = Math.max(nBefore, block, 1);
    const na = p === Infinity ? 0 : Math.max(nAfter, block, 1);
    const read = await this.once(e, `w\u0000${p}\u0000${nb}\u0000${na}`, () => fetch(p, nb, na));
    const segment: Segment = {
      lo: read.before.length < nb ? 0 : read.before[0]!.seq,
      hi: p === Infinity || read.after.length < na ? Infinity : read.after.at(-1)!.seq,
      msgs: [...read.before, ...read.after],
    };
    // The first of the callers that shared a read keeps it; the others only take their page.
    if (this.rooms.get(roomId) === e && !e.segments.some((x) => x.lo <= segment.lo && segment.hi <= x.hi)) {
      this.merge(e, segment);
      this.evict();
    }
    return take([segment], p, nBefore, nAfter)!;
  }

  /** Messages and access rows held, across rooms. */
  get held(): number {
    return this.size;
  }

  /** The estimated bytes held, across rooms (see messageBytes). */
  get heldBytes(): number {
    return this.bytes;
  }

  private entry(roomId: string): RoomEntry | undefined {
    const e = this.rooms.get(roomId);
    if (e === undefined) return undefined;
    if (this.now() - e.born > this.ttlMs) {
      this.drop(roomId);
      return undefined;
    }
    // Most recently used last: eviction takes from the front.
    this.rooms.delete(roomId);
    this.rooms.set(roomId, e);
    return e;
  }

  /** `read()`, or the same read already under way for this entry. */
  private once<T>(e: RoomEntry, what: string, read: () => Promise<T>): Promise<T> {
    const under = e.reading.get(what) as Promise<T> | undefined;
    if (under !== undefined) {
      this.stats.shared++;
      return under;
    }
    const p = read().finally(() => e.reading.delete(what));
    e.reading.set(what, p);
    return p;
  }

  private create(roomId: string): RoomEntry {
    const e: RoomEntry = { born: this.now(), segments: [], access: new Map(), size: 0, bytes: 0, reading: new Map() };
    this.rooms.set(roomId, e);
    return e;
  }

  /** Notes that a room changed now (for recentlyChanged); forgets the oldest notes past a bound. */
  private changed(roomId: string): void {
    this.changedAt.delete(roomId);
    this.changedAt.set(roomId, this.now());
    if (this.changedAt.size > MAX_CHANGED_NOTES) this.changedAt.delete(this.changedAt.keys().next().value!);
  }

  private recentlyChanged(roomId: string): boolean {
    const at = this.changedAt.get(roomId);
    return at !== undefined && this.now() - at < (this.options.quietMs ?? QUIET_MS);
  }

  private drop(roomId: string): boolean {
    const e = this.rooms.get(roomId);
    if (e === undefined) return false;
    this.size -= e.size;
    this.bytes -= e.bytes;
    this.rooms.delete(roomId);
    return true;
  }

  private grow(e: RoomEntry, by: number, bytes: number): void {
    e.size += by;
    this.size += by;
    e.bytes += bytes;
    this.bytes += bytes;
  }

  /** Adds a segment, joining it with those it overlaps or touches. */
  private merge(e: RoomEntry, s: Segment): void {
    const touching = e.segments.filter((x) => x.lo <= s.hi + 1 && s.lo <= x.hi + 1);
    const rest = e.segments.filter((x) => !touching.includes(x));
    // The fresh read last: for the same sequence it wins over what was held.
    const all = [...touching, s];
    const bySeq = new Map<number, Message>();
    for (const x of all) for (const m of x.msgs) bySeq.set(m.seq, m);
    const merged: Segment = {
      lo: Math.min(...all.map((x) => x.lo)),
      hi: Math.max(...all.map((x) => x.hi)),
      msgs: [...bySeq.values()].sort((a, b) => a.seq - b.seq),
    };
    const before = touching.reduce((n, x) => n + x.msgs.length, 0);
    const beforeBytes = touching.reduce((n, x) => n + bytesOf(x.msgs), 0);
    const cap = this.options.roomCap ?? Math.max(MIN_ROOM_CAP, Math.floor(this.options.maxEntries / 4));
    const kept = trimmed(merged, s, cap, (this.options.maxBytes ?? Infinity) / 4);
    e.segments = [...rest, kept].sort((a, b) => a.lo - b.lo);
    this.grow(e, kept.msgs.length - before, bytesOf(kept.msgs) - beforeBytes);
  }

  private evict(): void {
    for (const [roomId] of this.rooms) {
      if (this.size <= this.options.maxEntries && this.bytes <= (this.options.maxBytes ?? Infinity)) return;
      this.drop(roomId);
      this.stats.evictions++;
    }
  }
}

/**
 * A segment cut to at most `cap` messages and `byteCap` estimated bytes around the part just read
 * (`around`): one room read far back, or full of long messages, does not push every other room out,
 * and each merge stays bounded. What is cut off the ends moves `lo` and `hi` in, so the segment
 * still holds every message of its range.
 */
function trimmed(s: Segment, around: Segment, cap: number, byteCap: number): Segment {
  if (s.msgs.length <= cap && (byteCap === Infinity || bytesOf(s.msgs) <= byteCap)) return s;
  const n = s.msgs.length;
  const centre = Math.min(
    n - 1,
    firstAtOrAfter(s.msgs, around.msgs[Math.floor(around.msgs.length / 2)]?.seq ?? around.lo),
  );
  // Grow [from, to) from the centre, a message on each side in turn, while both caps allow.
  let from = centre;
  let to = centre + 1;
  let bytes = messageBytes(s.msgs[centre]!);
  for (let side = 0; to - from < cap; side ^= 1) {
    const next = side === 0 ? to : from - 1;
    if (next < 0 || next >= n) {
      if ((side === 0 ? from - 1 : to) < 0 || (side === 0 ? from - 1 : to) >= n) break;
      continue;
    }
    const b = messageBytes(s.msgs[next]!);
    if (bytes + b > byteCap) break;
    bytes += b;
    if (side === 0) to++;
    else from--;
  }
  const msgs = s.msgs.slice(from, to);
  return { lo: from === 0 ? s.lo : msgs[0]!.seq, hi: to >= n ? s.hi : msgs.at(-1)!.seq, msgs };
}

/** The window around `p` from the segment that holds both sides of it, or undefined. */
function take(segments: readonly Segment[], p: number, nBefore: number, nAfter: number): TimelineWindow | undefined {
  const s = segments.find((x) => x.lo <= p - 1 && p <= x.hi + 1);
  if (s === undefined) return undefined;
  const i = firstAtOrAfter(s.msgs, p);
  if (i < nBefore && s.lo !== 0) return undefined;
  if (s.msgs.length - i < nAfter && s.hi !== Infinity) return undefined;
  return { before: s.msgs.slice(Math.max(0, i - nBefore), i), after: s.msgs.slice(i, i + nAfter) };
}

/** The index of the first message with `seq >= p` (the length when none). */
function firstAtOrAfter(msgs: readonly Message[], p: number): number {
  let lo = 0;
  let hi = msgs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (msgs[mid]!.seq < p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

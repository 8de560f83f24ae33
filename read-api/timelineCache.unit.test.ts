import fc from "fast-check";
import { expect, test } from "vitest";
import type { Message } from "./schemas.ts";
import { messageBytes, TimelineCache, type TimelineWindow, type WindowFetch } from "./timelineCache.ts";

// The cache's bookkeeping against a room kept as a plain array: every window the cache gives must
// equal the one read straight from the array at that moment. The database side (the SQL of a
// window) is tested against PostgreSQL in timelineCache.int.test.ts.

const ROOM = "R1";

function message(seq: number, body = `m${seq}`): Message {
  return {
    messageId: `id${seq}`,
    roomId: ROOM,
    seq,
    authorId: "u",
    body,
    postedAt: "",
    editedAt: null,
    deleted: false,
    reactions: [],
    threadRootId: null,
    replyCount: 0,
    lastReplyAt: null,
    updatedSeq: seq,
  };
}

/** A room's top-level timeline in memory, read the way fetchWindow reads the database. */
class Room {
  msgs: Message[] = [];
  reads = 0;
  constructor(seqs: number[]) {
    this.msgs = seqs.map((s) => message(s));
  }
  window(p: number, nBefore: number, nAfter: number): TimelineWindow {
    const below = this.msgs.filter((m) => m.seq < p);
    const from = this.msgs.filter((m) => m.seq >= p);
    return {
      before: nBefore === 0 ? [] : below.slice(Math.max(0, below.length - nBefore)),
      after: from.slice(0, nAfter),
    };
  }
  fetch: WindowFetch = async (p, nb, na) => {
    this.reads++;
    return structuredClone(this.window(p, nb, na));
  };
}

// Sequences with gaps (other rooms' events, thread replies) and without.
const ascending = (n: number) =>
  fc.oneof(
    fc.uniqueArray(fc.integer({ min: 1, max: 600 }), { maxLength: n }).map((a) => a.sort((x, y) => x - y)),
    fc.integer({ min: 0, max: n }).map((k) => Array.from({ length: k }, (_, i) => i + 1)),
  );

type Op =
  | { kind: "page"; at: number; delta: number; newest: boolean; nBefore: number; nAfter: number }
  | { kind: "post" }
  | { kind: "edit"; at: number }
  | { kind: "unannounced-edit"; at: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("page" as const),
      // Positions at and next to the room's messages, so that pages land inside, at the edges of and between what the cache holds.
      at: fc.nat(),
      delta: fc.integer({ min: -1, max: 1 }),
      newest: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      nBefore: fc.integer({ min: 0, max: 50 }),
      nAfter: fc.integer({ min: 0, max: 50 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("post" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("edit" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unannounced-edit" as const), at: fc.nat() }) },
);

test("every window equals the room's as it is, through posts, edits and missed announcements", async () => {
  await fc.assert(
    fc.asyncProperty(
      ascending(400),
      fc.array(op, { maxLength: 80 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 60, max: 1000 }),
      fc.constantFrom(0, 60_000),
      fc.integer({ min: 40, max: 300 }),
      async (seqs, ops, block, maxEntries, quietMs, roomCap) => {
        const room = new Room(seqs);
        // Small blocks and small bounds: pages often reach the edges of what is held, segments are
        // trimmed and rooms evicted; a changed room read by blocks (quietMs 0) or page by page.
        const cache = new TimelineCache({ maxEntries, block, quietMs, roomCap });
        let seq = 6000;
        let announced = seq;
        cache.applied("timeline", { seq, from: seq - 1, rooms: [] });
        for (const o of ops) {
          if (o.kind === "page") {
            const p =
              o.newest || room.msgs.length === 0
                ? Infinity
                : Math.max(1, room.msgs[o.at % room.msgs.length]!.seq + o.delta);
            // A window with p = Infinity has nothing after it.
            const nAfter = p === Infinity ? 0 : o.nAfter;
            const got = await cache.window(ROOM, p, o.nBefore, nAfter, room.fetch);
            expect(got).toEqual(room.window(p, o.nBefore, nAfter));
            expect(cache.held).toBeLessThanOrEqual(maxEntries);
            continue;
          }
          seq++;
          if (o.kind === "post") room.msgs.push(message(seq));
          else if (room.msgs.length > 0)
            room.msgs[o.at % room.msgs.length] = message(room.msgs[o.at % room.msgs.length]!.seq, `edited at ${seq}`);
          if (o.kind !== "unannounced-edit") {
            // The projector's next announcement follows on from the last one.
            cache.applied("timeline", { seq, from: announced, rooms: [ROOM] });
            announced = seq;
          } else {
            // Killed between its commit and its announcement: the next one starts past what was seen.
            seq++;
            cache.applied("timeline", { seq, from: seq - 1, rooms: [] });
            announced = seq;
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("pages served from what it holds: a room read page by page is read from the database about once per block", async () => {
  const room = new Room(Array.from({ length: 5000 }, (_, i) => i + 1));
  const cache = new TimelineCache({ maxEntries: 100_000 });
  for (let round = 0; round < 3; round++) {
    for (let before = 5001; before > 1; before -= 50)
      expect(await cache.window(ROOM, before, 51, 1, room.fetch)).toEqual(room.window(before, 51, 1));
  }
  // 300 pages, the room in blocks of 250 going back; everything after the first pass is a hit.
  expect(room.reads).toBeLessThanOrEqual(25);
  expect(cache.stats.hits).toBeGreaterThanOrEqual(270);
});

test("an answer read while its room was dropped is given but not kept", async () => {
  const room = new Room([1, 2, 3]);
  const cache = new TimelineCache({ maxEntries: 1000 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow: WindowFetch = async (p, nb, na) => {
    const w = await room.fetch(p, nb, na);
    await gate;
    return w;
  };
  const pending = cache.window(ROOM, Infinity, 10, 0, slow);
  await Promise.resolve();
  // The projector commits a new message and announces it while the read is on its way.
  room.msgs.push(message(4));
  cache.applied("timeline", { seq: 4, rooms: [ROOM] });
  release();
  expect((await pending).before.map((m) => m.seq)).toEqual([1, 2, 3]);
  expect((await cache.window(ROOM, Infinity, 10, 0, room.fetch)).before.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
});

test("announcements: a gap, a swap (rooms: null) or another projection's name", async () => {
  const room = new Room([1, 2, 3]);
  const cache = new TimelineCache({ maxEntries: 1000 });
  const read = () => cache.window(ROOM, Infinity, 10, 0, room.fetch);
  cache.applied("timeline", { seq: 10, from: 9, rooms: [] });
  await read();
  await read();
  expect(room.reads).toBe(1);
  // Another room's batch, and a projection the cache does not read from, leave it.
  cache.applied("timeline", { seq: 11, from: 10, rooms: ["R2"] });
  cache.applied("audit", { seq: 11, from: 0, rooms: null });
  await read();
  expect(room.reads).toBe(1);
  // A batch that started past the last announcement seen: one was missed, everything goes.
  cache.applied("timeline", { seq: 20, from: 15, rooms: [] });
  await read();
  expect(room.reads).toBe(2);
  // A rebuild's swap names no rooms.
  cache.applied("timeline", { seq: 20, rooms: null });
  await read();
  expect(room.reads).toBe(3);
  // The rooms projection (membership) drops the room too.
  cache.applied("rooms", { seq: 21, from: 0, rooms: [ROOM] });
  await read();
  expect(room.reads).toBe(4);
});

test("covers: only what every watched projection has announced", () => {
  const cache = new TimelineCache({ maxEntries: 10 });
  expect(cache.covers(0)).toBe(true);
  expect(cache.covers(5)).toBe(false);
  cache.applied("timeline", { seq: 7, rooms: [] });
  expect(cache.covers(5)).toBe(false);
  cache.applied("rooms", { seq: 5, rooms: [] });
  expect(cache.covers(5)).toBe(true);
  expect(cache.covers(6)).toBe(false);
});

test("access rows: kept per caller, dropped with the room, a missing room not kept, and entries expire", async () => {
  let now = 0;
  const cache = new TimelineCache({ maxEntries: 1000, ttlMs: 1000, now: () => now });
  let loads = 0;
  const load = (row: string | undefined) => async () => {
    loads++;
    return row;
  };
  expect(await cache.access(ROOM, "user:a", load("member"))).toBe("member");
  expect(await cache.access(ROOM, "user:a", load("other"))).toBe("member");
  expect(await cache.access(ROOM, "user:b", load("banned"))).toBe("banned");
  expect(loads).toBe(2);
  cache.applied("rooms", { seq: 1, rooms: [ROOM] });
  expect(await cache.access(ROOM, "user:a", load("removed"))).toBe("removed");
  expect(await cache.access("nope", "user:a", load(undefined))).toBeUndefined();
  expect(await cache.access("nope", "user:a", load(undefined))).toBeUndefined();
  expect(loads).toBe(5);
  now = 1001;
  expect(await cache.access(ROOM, "user:a", load("later"))).toBe("later");
});

test("segments that touch are joined into one; a gap of one message keeps them apart", async () => {
  const room = new Room(Array.from({ length: 100 }, (_, i) => i + 1));
  const cache = new TimelineCache({ maxEntries: 1000, block: 10 });
  await cache.window(ROOM, 50, 1, 1, room.fetch); // holds 40..59
  await cache.window(ROOM, 30, 1, 1, room.fetch); // holds 20..39: touches 40, one segment 20..59
  await cache.window(ROOM, 79, 1, 1, room.fetch); // holds 69..78: 60 to 68 are not held
  expect(room.reads).toBe(3);
  expect(await cache.window(ROOM, 45, 20, 10, room.fetch)).toEqual(room.window(45, 20, 10));
  expect(room.reads).toBe(3);
  // Across the gap: read, and right.
  expect(await cache.window(ROOM, 65, 10, 10, room.fetch)).toEqual(room.window(65, 10, 10));
  expect(room.reads).toBe(4);
  const cache2 = new TimelineCache({ maxEntries: 1000, block: 10 });
  await cache2.window(ROOM, 50, 1, 1, room.fetch); // 40..59
  await cache2.window(ROOM, 29, 1, 1, room.fetch); // 19..38: 39 is between them
  expect(await cache2.window(ROOM, 45, 10, 1, room.fetch)).toEqual(room.window(45, 10, 1));
  expect(await cache2.window(ROOM, 40, 3, 1, room.fetch)).toEqual(room.window(40, 3, 1));
});

test("a room that changed moments ago is read only as far as the page needs; once quiet, by blocks again", async () => {
  let now = 0;
  const room = new Room(Array.from({ length: 1000 }, (_, i) => i + 1));
  const asked: [number, number, number][] = [];
  const fetch: WindowFetch = (p, nb, na) => {
    asked.push([p, nb, na]);
    return room.fetch(p, nb, na);
  };
  const cache = new TimelineCache({ maxEntries: 10_000, block: 100, quietMs: 2000, now: () => now });
  await cache.window(ROOM, Infinity, 51, 0, fetch);
  expect(asked.pop()).toEqual([Infinity, 100, 0]);
  room.msgs.push(message(1001));
  cache.applied("timeline", { seq: 1001, rooms: [ROOM] });
  now = 1999;
  expect(await cache.window(ROOM, Infinity, 51, 0, fetch)).toEqual(room.window(Infinity, 51, 0));
  expect(asked.pop()).toEqual([Infinity, 51, 0]);
  expect(await cache.window(ROOM, 500, 51, 1, fetch)).toEqual(room.window(500, 51, 1));
  expect(asked.pop()).toEqual([500, 51, 1]);
  // Still answered from what that read, while nothing changes.
  expect(await cache.window(ROOM, 500, 51, 1, fetch)).toEqual(room.window(500, 51, 1));
  expect(asked).toEqual([]);
  now = 2001;
  await cache.window(ROOM, 300, 51, 1, fetch);
  expect(asked.pop()).toEqual([300, 100, 100]);
});

test("the first announcement heard starts afresh: one lost before it would otherwise go unseen", async () => {
  const room = new Room([1, 2]);
  const cache = new TimelineCache({ maxEntries: 1000 });
  await cache.window(ROOM, Infinity, 10, 0, room.fetch);
  // Committed at 100, its announcement lost (the projector killed); the next instance starts there.
  room.msgs.push(message(100));
  cache.applied("timeline", { seq: 110, from: 100, rooms: ["R2"] });
  cache.applied("rooms", { seq: 111, from: 105, rooms: ["R3"] });
  expect(cache.covers(100)).toBe(true);
  expect((await cache.window(ROOM, Infinity, 10, 0, room.fetch)).before.map((m) => m.seq)).toEqual([1, 2, 100]);
});

test("covers: a projection behind `seq` that reads nothing up to it counts as far as its checkpoint", () => {
  const cache = new TimelineCache({ maxEntries: 10 });
  cache.applied("timeline", { seq: 50, from: 50, rooms: [] });
  cache.applied("rooms", { seq: 20, from: 20, rooms: [] });
  expect(cache.covers(50)).toBe(false);
  // The rooms projection reads nothing between 20 and 50 (CheckpointWatch.reached found so).
  expect(cache.covers(50, { rooms: 20, timeline: 50 })).toBe(true);
  expect(cache.covers(50, { rooms: 25, timeline: 50 })).toBe(false);
});

test("one room holds at most its cap: a long scroll back keeps the part around where it reads", async () => {
  const room = new Room(Array.from({ length: 3000 }, (_, i) => i + 1));
  const cache = new TimelineCache({ maxEntries: 100_000, block: 100, roomCap: 500 });
  for (let before = 3001; before > 1; before -= 50) {
    expect(await cache.window(ROOM, before, 51, 1, room.fetch)).toEqual(room.window(before, 51, 1));
    expect(cache.held).toBeLessThanOrEqual(500 + 1);
  }
});

test("callers missing on the same window at once share one read; a caller after an announcement gets a read of its own", async () => {
  const room = new Room(Array.from({ length: 40 }, (_, i) => i + 1));
  const cache = new TimelineCache({ maxEntries: 1000 });
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  const slow: WindowFetch = async (p, nb, na) => {
    const w = await room.fetch(p, nb, na);
    await gate;
    return w;
  };
  // A crowd opens the room at once (a reconnect after a restart).
  const crowd = Array.from({ length: 50 }, () => cache.window(ROOM, Infinity, 10, 0, slow));
  await Promise.resolve();
  release();
  const pages = await Promise.all(crowd);
  expect(room.reads).toBe(1);
  expect(cache.stats.shared).toBe(49);
  for (const page of pages) expect(page).toEqual(room.window(Infinity, 10, 0));
  expect(cache.held).toBe(40);

  // A read under way when the room changes is not handed to a caller who came after the change.
  gate = new Promise<void>((r) => (release = r));
  cache.applied("timeline", { seq: 41, rooms: [ROOM] });
  const early = cache.window(ROOM, Infinity, 10, 0, slow);
  await Promise.resolve();
  room.msgs.push(message(41));
  cache.applied("timeline", { seq: 42, from: 41, rooms: [ROOM] });
  const late = cache.window(ROOM, Infinity, 10, 0, slow);
  release();
  expect((await late).before.at(-1)?.seq).toBe(41);
  await early;
  expect(room.reads).toBe(3);
});

test("access rows: callers missing on the same row at once share one load", async () => {
  const cache = new TimelineCache({ maxEntries: 1000 });
  let loads = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const load = async () => {
    loads++;
    await gate;
    return "member";
  };
  const all = [
    cache.access(ROOM, "user:a", load),
    cache.access(ROOM, "user:a", load),
    cache.access(ROOM, "user:b", load),
  ];
  release();
  expect(await Promise.all(all)).toEqual(["member", "member", "member"]);
  expect(loads).toBe(2);
  expect(cache.held).toBe(2);
});

test("the bound in bytes: rooms of long messages are held by their weight, not their number, and every page stays right", async () => {
  const long = "x".repeat(8000);
  const rooms = Array.from({ length: 6 }, (_, r) => {
    const room = new Room([]);
    room.msgs = Array.from({ length: 300 }, (_, i) => ({
      ...message(i + 1, i % 2 === 0 ? long : `short ${i}`),
      roomId: `R${r}`,
    }));
    return room;
  });
  const weight = (room: Room) => room.msgs.reduce((n, m) => n + messageBytes(m), 0);
  expect(messageBytes(rooms[0]!.msgs[0]!)).toBeGreaterThan(32_000);
  expect(messageBytes(rooms[0]!.msgs[1]!)).toBeLessThan(1000);
  // Room for about two rooms' weight, far fewer than the bound in messages would allow.
  const maxBytes = Math.floor(2.5 * weight(rooms[0]!));
  const cache = new TimelineCache({ maxEntries: 100_000, maxBytes });
  for (let round = 0; round < 2; round++) {
    for (const [r, room] of rooms.entries()) {
      expect(await cache.window(`R${r}`, Infinity, 50, 0, room.fetch)).toEqual(room.window(Infinity, 50, 0));
      expect(cache.heldBytes).toBeLessThanOrEqual(maxBytes);
      expect(cache.heldBytes).toBeGreaterThan(0);
    }
  }
  expect(cache.stats.evictions).toBeGreaterThan(0);
  // One room holds at most a quarter of the bytes: a long scroll back keeps the part it reads.
  const one = new TimelineCache({ maxEntries: 100_000, maxBytes: 4 * 40 * 33_000, block: 50 });
  const room = rooms[0]!;
  for (let before = 301; before > 1; before -= 25) {
    expect(await one.window("R0", before, 26, 1, room.fetch)).toEqual(room.window(before, 26, 1));
    expect(one.heldBytes).toBeLessThanOrEqual(40 * 33_000 + 33_000);
  }
  // The room read longest ago went for its weight: reading it again reads the database, and is right.
  const again = rooms[0]!;
  const reads = again.reads;
  expect(await cache.window("R0", Infinity, 50, 0, again.fetch)).toEqual(again.window(Infinity, 50, 0));
  expect(again.reads).toBe(reads + 1);
});

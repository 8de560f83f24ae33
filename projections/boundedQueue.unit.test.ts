import { describe, expect, test } from "vitest";
import { BoundedQueue } from "./boundedQueue.ts";

describe("BoundedQueue", () => {
  test("take waits for an item, then hands over what is queued, oldest first, at most max", async () => {
    const q = new BoundedQueue<number>(10);
    const first = q.take(5);
    expect(await q.push(1)).toBe(true);
    expect(await first).toEqual([1]);
    for (const n of [2, 3, 4, 5, 6, 7, 8]) await q.push(n);
    expect(await q.take(5)).toEqual([2, 3, 4, 5, 6]);
    expect(await q.take(5)).toEqual([7, 8]);
    expect(q.size).toBe(0);
  });

  test("a push waits while the queue is full, its item not queued, until a take makes room", async () => {
    const q = new BoundedQueue<string>(2);
    await q.push("a");
    await q.push("b");
    const third = q.push("c");
    expect(q.size).toBe(2);
    expect(await q.take(10)).toEqual(["a", "b"]);
    expect(await third).toBe(true);
    expect(await q.take(10)).toEqual(["c"]);
  });

  test("the producer goes on while the consumer is busy; the next take is everything that came meanwhile", async () => {
    const q = new BoundedQueue<number>(6);
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    let busy!: () => void;
    const firstTaken = new Promise<void>((r) => (busy = r));
    const batches: number[][] = [];
    const consumer = (async () => {
      while (batches.flat().length < 8) {
        batches.push(await q.take(3));
        if (batches.length === 1) {
          busy();
          await slow;
        }
      }
    })();
    await q.push(0);
    await firstTaken;
    // The first batch is still being worked on: six more fit, the eighth item waits for room.
    for (const n of [1, 2, 3, 4, 5, 6]) expect(await q.push(n)).toBe(true);
    const seventh = q.push(7);
    expect(q.size).toBe(6);
    release();
    expect(await seventh).toBe(true);
    await consumer;
    expect(batches).toEqual([[0], [1, 2, 3], [4, 5, 6], [7]]);
  });

  test("close drops what is queued: a waiting or later push returns false, take returns []", async () => {
    const q = new BoundedQueue<number>(1);
    await q.push(1);
    const waiting = q.push(2);
    q.close();
    expect(await waiting).toBe(false);
    expect(await q.take(5)).toEqual([]);
    expect(await q.push(3)).toBe(false);

    const idle = new BoundedQueue<number>(1);
    const taking = idle.take(1);
    idle.close();
    expect(await taking).toEqual([]);
  });

  test("fail makes take throw its error, before anything still queued; the first close or fail counts", async () => {
    const q = new BoundedQueue<number>(3);
    await q.push(1);
    const gap = new Error("a delivery out of sequence");
    q.fail(gap);
    q.close();
    await expect(q.take(3)).rejects.toBe(gap);

    const idle = new BoundedQueue<number>(3);
    const taking = idle.take(3);
    idle.fail(gap);
    await expect(taking).rejects.toBe(gap);
    idle.fail(new Error("later"));
    await expect(idle.take(3)).rejects.toBe(gap);
  });

  test("a queue holds at least one item", () => {
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
  });
});

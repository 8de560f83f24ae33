import { describe, expect, test } from "vitest";
import { coalesced } from "./coalesced.ts";

describe("coalesced", () => {
  test("calls during a run share it and cause exactly one more run after it", async () => {
    let runs = 0;
    const gates: (() => void)[] = [];
    const task = coalesced(async () => {
      runs++;
      await new Promise<void>((r) => gates.push(r));
    });
    const first = task();
    const second = task();
    const third = task();
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(runs).toBe(1);
    gates.shift()!();
    await first;
    await Promise.resolve();
    expect(runs).toBe(2);
    gates.shift()!();
    await new Promise((r) => setTimeout(r, 0));
    expect(runs).toBe(2);
    expect(gates).toEqual([]);
  });
});

import { describe, expect, test } from "vitest";
import { InvalidError } from "../domain/index.ts";
import { KeyedQueue } from "./keyedQueue.ts";
import { parseRateLimit, RateLimiter } from "../domain/rateLimit.ts";
import { parseCommandSubject } from "./subject.ts";

describe("command subjects", () => {
  test("cmd. is the user privilege, admincmd. the admin one, svccmd. the service one", () => {
    expect(parseCommandSubject("cmd.u1.room.create")).toEqual({
      privilege: "user",
      userId: "u1",
      action: "room.create",
    });
    expect(parseCommandSubject("admincmd.u1.msg.delete")).toEqual({
      privilege: "admin",
      userId: "u1",
      action: "msg.delete",
    });
    expect(parseCommandSubject("svccmd.u1.user.identity")).toEqual({
      privilege: "service",
      userId: "u1",
      action: "user.identity",
    });
  });
  test.each([
    "cmd.u1.room",
    "cmd.u1.room.create.x",
    "cmd.u1.room.nope",
    "cmd.u1.nope.create",
    "evil.u1.room.create",
    "cmd.u$.room.join",
    "cmd..room.join",
  ])("%s is refused as invalid", (subject) => {
    expect(() => parseCommandSubject(subject)).toThrow(InvalidError);
  });
});

describe("rate limits", () => {
  test("parse <burst>/<per second> and off; refuse anything else", () => {
    expect(parseRateLimit("30/10")).toEqual({ burst: 30, perSecond: 10 });
    expect(parseRateLimit("5/0.5")).toEqual({ burst: 5, perSecond: 0.5 });
    expect(parseRateLimit("off")).toBe("off");
    for (const bad of ["", "30", "0/10", "30/0", "a/b", "-1/2"])
      expect(() => parseRateLimit(bad)).toThrow(/rate limit/);
  });

  test("a bucket allows its burst, then refills at its rate", () => {
    const l = new RateLimiter({ burst: 3, perSecond: 2 });
    const t0 = 1_000_000;
    expect([l.take("a", t0), l.take("a", t0), l.take("a", t0)]).toEqual([0, 0, 0]);
    expect(l.take("a", t0)).toBe(500);
    expect(l.take("b", t0)).toBe(0);
    expect(l.take("a", t0 + 500)).toBe(0);
    expect(l.take("a", t0 + 500)).toBe(500);
  });

  test("off never limits", () => {
    const l = new RateLimiter("off");
    for (let i = 0; i < 1000; i++) expect(l.take("a", i)).toBe(0);
  });
});

describe("the keyed queue", () => {
  test("runs one key's tasks in order, other keys alongside, and survives a failing task", async () => {
    const q = new KeyedQueue();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a1 = q.run("a", async () => {
      await gate;
      order.push("a1");
    });
    const a2 = q.run("a", async () => {
      order.push("a2");
      throw new Error("boom");
    });
    const a3 = q.run("a", async () => void order.push("a3"));
    const b1 = q.run("b", async () => void order.push("b1"));
    await b1;
    expect(order).toEqual(["b1"]);
    release();
    await a1;
    await expect(a2).rejects.toThrow("boom");
    await a3;
    expect(order).toEqual(["b1", "a1", "a2", "a3"]);
    await new Promise((r) => setImmediate(r));
    expect(q.size).toBe(0);
  });
});

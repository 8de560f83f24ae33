import { createRoot } from "solid-js";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { LiveEvent } from "../../../domain/index.ts";
import { createPresence } from "./presence.ts";
import { createTyping, TYPING_SHOWN_MS } from "./typing.ts";
import { createUsers, fallbackName } from "./users.ts";

const ev = (type: string, payload: Record<string, unknown>, roomId = "r"): LiveEvent => ({
  seq: 0,
  time: "2026-01-01T00:00:00Z",
  type,
  actor: String(payload["userId"] ?? "x"),
  roomId,
  payload,
});

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("presence", () => {
  test("heartbeats every interval with this tab's connection id, away when hidden or chosen, offline goodbye", async () => {
    await createRoot(async (dispose) => {
      const beats: [string, string][] = [];
      const server = {
        heartbeat: vi.fn((id: string, status: string) => (beats.push([id, status]), true)),
        presence: vi.fn(async () => ({ presence: { bob: "away" as const, cy: "online" as const } })),
      };
      const p = createPresence({ server, me: "alice", heartbeatMs: 10_000 });
      p.start();
      vi.advanceTimersByTime(20_000);
      expect(beats.map((b) => b[1])).toEqual(["online", "online", "online"]);
      expect(new Set(beats.map((b) => b[0]))).toEqual(new Set([p.connectionId]));
      expect(p.of("alice")).toBe("online");

      p.setChosen("away");
      expect(beats.at(-1)?.[1]).toBe("away");
      p.setChosen("online");
      Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
      expect(beats.at(-1)?.[1]).toBe("away");
      Object.defineProperty(document, "visibilityState", { value: "visible", configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
      expect(beats.at(-1)?.[1]).toBe("online");

      await p.fetch(["bob", "cy", "bob"]);
      expect(server.presence).toHaveBeenCalledWith(["bob", "cy"]);
      expect([p.of("bob"), p.of("cy"), p.of("dan")]).toEqual(["away", "online", "offline"]);
      p.applyLive(ev("Presence", { userId: "bob", status: "online" }));
      p.applyLive(ev("Presence", { userId: "bob", status: "bogus" }));
      expect(p.of("bob")).toBe("online");

      p.stop();
      expect(beats.at(-1)?.[1]).toBe("offline");
      const n = beats.length;
      vi.advanceTimersByTime(30_000);
      expect(beats.length).toBe(n);
      dispose();
    });
  });
});

describe("typing", () => {
  test("says typing at most every 2 s; shows others for ~4 s after their last event; ignores the user's own", () => {
    createRoot((dispose) => {
      let now = 0;
      const server = { typing: vi.fn(() => true) };
      const t = createTyping({ server, me: "alice", now: () => now });
      t.typed("r");
      now = 1500;
      t.typed("r");
      now = 2100;
      t.typed("r");
      expect(server.typing).toHaveBeenCalledTimes(2);
      t.stopped("r");
      t.typed("r");
      expect(server.typing).toHaveBeenCalledTimes(3);

      t.applyLive(ev("Typing", { userId: "bob" }));
      t.applyLive(ev("Typing", { userId: "alice" }));
      t.applyLive(ev("Typing", { userId: "cy" }, "other"));
      expect(t.typingIn("r")).toEqual(["bob"]);
      vi.advanceTimersByTime(TYPING_SHOWN_MS - 500);
      t.applyLive(ev("Typing", { userId: "bob" }));
      vi.advanceTimersByTime(TYPING_SHOWN_MS - 500);
      expect(t.typingIn("r")).toEqual(["bob"]);
      vi.advanceTimersByTime(600);
      expect(t.typingIn("r")).toEqual([]);

      t.applyLive(ev("Typing", { userId: "cy" }));
      t.applyLive({ ...ev("MessagePosted", { authorId: "cy" }), seq: 5 });
      expect(t.typingIn("r")).toEqual([]);
      // Typing again soon after the post is shown its full time, not cut short by the one before it.
      vi.advanceTimersByTime(TYPING_SHOWN_MS - 1000);
      t.applyLive(ev("Typing", { userId: "cy" }));
      vi.advanceTimersByTime(1500);
      expect(t.typingIn("r")).toEqual(["cy"]);
      dispose();
    });
  });
});

describe("users", () => {
  test("names: the user's own, members' display names, profile updates, readable fallbacks; handles for mentions", () => {
    createRoot((dispose) => {
      const u = createUsers({ me: "a1", myName: "alice" });
      u.learn([
        { userId: "b2", role: "member", joinedSeq: 1, displayName: "Bob Lee" },
        { userId: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", role: "member", joinedSeq: 2 },
      ]);
      expect(u.nameOf("a1")).toBe("alice");
      expect(u.nameOf("b2")).toBe("Bob Lee");
      expect(u.handleOf("b2")).toBe("Bob_Lee");
      expect(u.byHandle("bob_lee", u.known())).toBe("b2");
      expect(u.nameOf("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")).toBe("user-f81d4fae");
      u.applyLive({
        seq: 9,
        time: "",
        type: "UserProfileUpdated",
        actor: "a1",
        payload: { userId: "a1", displayName: "Alice A." },
      });
      expect(u.nameOf("a1")).toBe("Alice A.");
      expect(u.known().sort()).toEqual(["a1", "b2", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"]);
      expect(fallbackName("x_616c69636540782e6f7267")).toBe("alice");
      dispose();
    });
  });

  test("an id shown without a name is asked for, with others of the same turn, as of the newest sequence heard", async () => {
    const asked: { ids: string[]; minSeq: number }[] = [];
    const directory: Record<string, string> = { b2: "Bob", c3: "Carol" };
    await createRoot(async (dispose) => {
      const u = createUsers({
        me: "a1",
        myName: "alice",
        names: async (ids, minSeq) => {
          asked.push({ ids: [...ids], minSeq });
          return ids
            .filter((id) => directory[id] !== undefined)
            .map((id) => ({ userId: id, displayName: directory[id]! }));
        },
        seenSeq: () => 41,
      });
      expect(u.nameOf("b2")).toBe("user-b2");
      expect(u.nameOf("c3")).toBe("user-c3");
      expect(u.nameOf("b2")).toBe("user-b2");
      expect(u.nameOf("z9")).toBe("user-z9");
      await u.settled();
      expect(asked).toEqual([{ ids: ["b2", "c3", "z9"], minSeq: 41 }]);
      expect(u.nameOf("b2")).toBe("Bob");
      expect(u.nameOf("c3")).toBe("Carol");
      // One with no name yet is not asked again at every render.
      expect(u.nameOf("z9")).toBe("user-z9");
      await u.settled();
      expect(asked).toHaveLength(1);
      dispose();
    });
  });

  test("live profile changes: a chosen name at once; an identity name alone as the server names the person after that event; each event once", async () => {
    const asked: { ids: string[]; minSeq: number }[] = [];
    let serverName = "Bobby";
    await createRoot(async (dispose) => {
      const u = createUsers({
        me: "a1",
        myName: "alice",
        names: async (ids, minSeq) => (
          asked.push({ ids: [...ids], minSeq }),
          ids.map((id) => ({ userId: id, displayName: serverName }))
        ),
      });
      u.learn([{ userId: "b2", role: "member", joinedSeq: 1, displayName: "Bob" }]);
      u.applyLive({
        seq: 10,
        time: "",
        type: "UserProfileUpdated",
        actor: "b2",
        payload: { userId: "b2", displayName: "Bobby" },
      });
      expect(u.nameOf("b2")).toBe("Bobby");
      // An identity name under a chosen one: the server still says Bobby.
      u.applyLive({
        seq: 12,
        time: "",
        type: "UserProfileUpdated",
        actor: "svc-identity",
        roomId: "r1",
        payload: { userId: "b2", identityName: "Robert" },
      });
      u.applyLive({
        seq: 12,
        time: "",
        type: "UserProfileUpdated",
        actor: "svc-identity",
        roomId: "r2",
        payload: { userId: "b2", identityName: "Robert" },
      });
      await u.settled();
      expect(asked).toEqual([{ ids: ["b2"], minSeq: 12 }]);
      expect(u.nameOf("b2")).toBe("Bobby");
      serverName = "Robert";
      u.applyLive({
        seq: 14,
        time: "",
        type: "UserProfileUpdated",
        actor: "svc-identity",
        payload: { userId: "b2", identityName: "Robert" },
      });
      await u.settled();
      expect(u.nameOf("b2")).toBe("Robert");
      dispose();
    });
  });
});

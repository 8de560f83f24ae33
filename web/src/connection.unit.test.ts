import type { ConnectionOptions, NatsConnection, Status } from "@nats-io/nats-core";
import { errors } from "@nats-io/nats-core";
import { createRoot } from "solid-js";
import { describe, expect, test, vi } from "vitest";
import { backoffDelay, createConnection } from "./connection.ts";

/** A NATS connection double: its status stream and closing are driven by the test. */
function fakeNats() {
  const queue: Status[] = [];
  let wake: (() => void) | null = null;
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => (closedResolve = r));
  let isClosed = false;
  const nc = {
    reconnect: vi.fn(async () => undefined),
    close: vi.fn(async () => {
      isClosed = true;
      closedResolve();
    }),
    isClosed: () => isClosed,
    closed: () => closed.then(() => undefined),
    status: () => ({
      async *[Symbol.asyncIterator]() {
        while (!isClosed) {
          if (queue.length === 0) await new Promise<void>((r) => (wake = r));
          while (queue.length > 0) yield queue.shift()!;
        }
      },
    }),
  };
  return {
    nc: nc as unknown as NatsConnection & typeof nc,
    emit(s: Status) {
      queue.push(s);
      wake?.();
    },
    dropForGood() {
      isClosed = true;
      closedResolve();
      wake?.();
    },
  };
}

describe("backoff", () => {
  test("doubles from the first delay up to the cap, jittered over the upper half", () => {
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, 500, 30_000, 1))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(3, 500, 30_000, 0)).toBe(2000);
    expect(backoffDelay(20, 500, 30_000, 1)).toBe(30_000);
    expect(backoffDelay(1000, 500, 30_000, 0.5)).toBe(22_500);
  });
});

describe("connection", () => {
  test("connects with the current token and the user's inbox prefix; follows NATS's status; an auth error renews the token and reconnects", async () => {
    await createRoot(async (dispose) => {
      const f = fakeNats();
      let token = "t1";
      const seen: ConnectionOptions[] = [];
      const renew = vi.fn(async () => {
        token = "t2";
      });
      const conn = createConnection({
        url: "ws://nats",
        userId: "u1",
        token: () => token,
        onAuthError: renew,
        connect: async (o) => (seen.push(o), f.nc),
      });
      const connects: boolean[] = [];
      conn.onConnect((_nc, fresh) => connects.push(fresh));
      expect(conn.state()).toBe("connecting");
      await conn.ready();
      expect(conn.state()).toBe("online");
      expect(seen[0]).toMatchObject({
        servers: "ws://nats",
        inboxPrefix: "_INBOX.u1",
        maxReconnectAttempts: -1,
        ignoreAuthErrorAbort: true,
      });
      expect(connects).toEqual([true]);

      f.emit({ type: "disconnect", server: "x" });
      await vi.waitFor(() => expect(conn.state()).toBe("reconnecting"));
      expect(conn.current()).toBeNull();
      f.emit({ type: "error", error: new errors.UserAuthenticationExpiredError("expired") });
      await vi.waitFor(() => expect(f.nc.reconnect).toHaveBeenCalled());
      expect(renew).toHaveBeenCalled();
      expect(token).toBe("t2");
      f.emit({ type: "reconnect", server: "x" });
      await vi.waitFor(() => expect(conn.state()).toBe("online"));
      expect(connects).toEqual([true, false]);
      await conn.close();
      expect(conn.state()).toBe("offline");
      dispose();
    });
  });

  test("a first connect that fails is tried again; a connection closed for good is replaced by a fresh one", async () => {
    await createRoot(async (dispose) => {
      const first = fakeNats();
      const second = fakeNats();
      const attempts: string[] = [];
      const conn = createConnection({
        url: "ws://nats",
        userId: "u1",
        token: () => "t",
        initialDelayMs: 1,
        maxDelayMs: 2,
        connect: async () => {
          attempts.push("try");
          if (attempts.length === 1) throw new Error("refused");
          return attempts.length === 2 ? first.nc : second.nc;
        },
      });
      const fresh: boolean[] = [];
      conn.onConnect((_nc, f) => fresh.push(f));
      await vi.waitFor(() => expect(conn.state()).toBe("online"));
      first.dropForGood();
      await vi.waitFor(() => expect(fresh).toEqual([true, true]));
      expect(attempts.length).toBe(3);
      await conn.close();
      dispose();
    });
  });
});

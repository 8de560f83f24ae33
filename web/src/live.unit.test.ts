import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { describe, expect, test, vi } from "vitest";
import { createLive, decodeLiveEvent } from "./live.ts";

const enc = new TextEncoder();

function fakeConnection() {
  const subs: {
    subject: string;
    callback: (err: Error | null, m: Msg) => void;
    unsubscribe: ReturnType<typeof vi.fn>;
  }[] = [];
  const order: string[] = [];
  const nc = {
    subscribe: (subject: string, o: { callback: (err: Error | null, m: Msg) => void }) => {
      order.push(`sub ${subject}`);
      const s = { subject, callback: o.callback, unsubscribe: vi.fn() };
      subs.push(s);
      return s;
    },
    flush: async () => undefined,
  } as unknown as NatsConnection;
  let listener: ((nc: NatsConnection, fresh: boolean) => void) | null = null;
  let online = false;
  return {
    subs,
    order,
    connection: {
      onConnect: (l: (nc: NatsConnection, fresh: boolean) => void) => ((listener = l), () => (listener = null)),
      current: () => (online ? nc : null),
    },
    connect(fresh: boolean) {
      online = true;
      listener?.(nc, fresh);
    },
    deliver(subject: string, data: unknown) {
      for (const s of subs.filter((x) => x.subject === subject))
        s.callback(null, { data: enc.encode(typeof data === "string" ? data : JSON.stringify(data)) } as Msg);
    },
  };
}

describe("live", () => {
  test("decodes live events and drops what is not one", () => {
    const e = { seq: 3, time: "t", type: "MessagePosted", actor: "a", roomId: "r", messageId: "m", payload: {} };
    expect(decodeLiveEvent(enc.encode(JSON.stringify(e)))).toEqual(e);
    expect(decodeLiveEvent(enc.encode("nope"))).toBeNull();
    expect(decodeLiveEvent(enc.encode(JSON.stringify({ ...e, seq: "3" })))).toBeNull();
    expect(decodeLiveEvent(enc.encode(JSON.stringify({ ...e, payload: null })))).toBeNull();
    expect(decodeLiveEvent(enc.encode(JSON.stringify({ ...e, roomId: 5 })))).toBeNull();
  });

  test("subscribes to the user's deliver subjects and watched public rooms first, then resumes; a reconnect only resumes", async () => {
    const f = fakeConnection();
    const events: unknown[] = [];
    const resumed = vi.fn(() => f.order.push("resume"));
    const live = createLive({
      connection: f.connection,
      userId: "u1",
      onEvent: (e) => events.push(e),
      onResume: resumed,
    });
    live.watch("pub1");
    f.connect(true);
    await vi.waitFor(() => expect(resumed).toHaveBeenCalledTimes(1));
    expect(f.order).toEqual(["sub deliver.u1.>", "sub live.room.pub1", "resume"]);

    live.watch("pub2");
    live.watch("pub2");
    expect(f.subs.map((s) => s.subject)).toEqual(["deliver.u1.>", "live.room.pub1", "live.room.pub2"]);
    f.deliver("live.room.pub2", {
      seq: 1,
      time: "t",
      type: "Typing",
      actor: "b",
      roomId: "pub2",
      payload: { userId: "b" },
    });
    f.deliver("deliver.u1.>", "garbage");
    expect(events).toHaveLength(1);

    f.connect(false);
    await vi.waitFor(() => expect(resumed).toHaveBeenCalledTimes(2));
    expect(f.subs).toHaveLength(3);

    live.unwatch("pub1");
    expect(f.subs[1]!.unsubscribe).toHaveBeenCalled();
    expect(live.watching()).toEqual(["pub2"]);
    live.stop();
    expect(f.subs[0]!.unsubscribe).toHaveBeenCalled();
  });
});

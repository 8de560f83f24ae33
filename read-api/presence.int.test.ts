import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Subscription } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveSubjects, type LiveEvent } from "../domain/index.ts";
import { startReadHarness, TEST_PRESENCE, type ReadHarness } from "../test/readHarness.ts";

let h: ReadHarness;
let roomId: string;

beforeAll(async () => {
  h = await startReadHarness();
  const { alice, bob, dave } = h.users;
  roomId = (await alice.cmd("room.create", { name: "presence", kind: "private", members: [bob.id, dave.id] })).result[
    "roomId"
  ] as string;
  await h.caughtUp();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/** Presence events of `userId` that reach `sub`'s owner, with when they came. */
function presenceEvents(sub: Subscription, userId: string): { status: string; at: number }[] {
  const seen: { status: string; at: number }[] = [];
  void (async () => {
    for await (const m of sub) {
      const e = m.json<LiveEvent>();
      if (e.type === "Presence" && e.payload["userId"] === userId)
        seen.push({ status: e.payload["status"] as string, at: Date.now() });
    }
  })();
  return seen;
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("presence", () => {
  it("a client process killed without goodbye is shown offline within the configured bound", async () => {
    const { bob, dave } = h.users;
    const sub = dave.nc.subscribe(liveSubjects.member(dave.id, roomId));
    const seen = presenceEvents(sub, bob.id);
    await dave.nc.flush();
    // A real client in its own process: connects with bob's token, beats every heartbeatMs, says when.
    const script = `
      import { connect } from "@nats-io/transport-node";
      const nc = await connect({ servers: ${JSON.stringify(h.sys.server.url)}, token: ${JSON.stringify(bob.token)}, inboxPrefix: "_INBOX.${bob.id}" });
      setInterval(() => { nc.publish("presence.${bob.id}", JSON.stringify({ connectionId: "crashy", status: "online" })); nc.flush().then(() => console.log("beat")); }, ${TEST_PRESENCE.heartbeatMs});
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let beats = 0;
    let lastBeat = 0;
    createInterface({ input: child.stdout! }).on("line", () => {
      beats++;
      lastBeat = Date.now();
    });
    await until("bob online", () => seen.find((s) => s.status === "online"));
    expect((await dave.get(`/api/presence?userIds=${bob.id}`)).body.presence).toEqual({ [bob.id]: "online" });
    await until("three beats", () => (beats >= 3 ? true : undefined));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const killedAfter = lastBeat;
    const offline = await until(
      "bob offline",
      () => seen.find((s) => s.status === "offline"),
      TEST_PRESENCE.timeoutMs * 5,
    );
    const silentFor = offline.at - killedAfter;
    // Not before the timeout, and no later than the timeout plus one sweep (a tenth of it) and a little slack.
    expect(silentFor).toBeGreaterThanOrEqual(TEST_PRESENCE.timeoutMs - 50);
    expect(silentFor).toBeLessThanOrEqual(TEST_PRESENCE.timeoutMs * 1.1 + 400);
    expect((await dave.get(`/api/presence?userIds=${bob.id}`)).body.presence).toEqual({ [bob.id]: "offline" });
    sub.unsubscribe();
  });

  it("a user with two connections stays online while either is, and goes away only when both are", async () => {
    const { alice, dave } = h.users;
    const sub = dave.nc.subscribe(liveSubjects.member(dave.id, roomId));
    const seen = presenceEvents(sub, alice.id);
    await dave.nc.flush();
    const beat = (connectionId: string, status: string) =>
      alice.nc.publish(liveSubjects.presence(alice.id), JSON.stringify({ connectionId, status }));
    beat("phone", "online");
    beat("laptop", "away");
    await until("alice online", () => seen.find((s) => s.status === "online"));
    beat("phone", "away");
    await until("alice away", () => seen.find((s) => s.status === "away"));
    beat("phone", "offline");
    beat("laptop", "offline");
    await until("alice offline", () => seen.find((s) => s.status === "offline"));
    expect(seen.map((s) => s.status)).toEqual(["online", "away", "offline"]);
    sub.unsubscribe();
  });

  it("typing reaches the other members, never stored", async () => {
    const { bob, dave } = h.users;
    const sub = dave.nc.subscribe(liveSubjects.member(dave.id, roomId));
    const got: LiveEvent[] = [];
    void (async () => {
      for await (const m of sub) got.push(m.json<LiveEvent>());
    })();
    await dave.nc.flush();
    const before = await h.store.lastSeq();
    bob.nc.publish(liveSubjects.typing(bob.id, roomId), "");
    const typing = await until("typing", () => got.find((e) => e.type === "Typing"));
    expect(typing).toMatchObject({ seq: 0, actor: bob.id, roomId, payload: { userId: bob.id } });
    expect(await h.store.lastSeq()).toBe(before);
    sub.unsubscribe();
  });
});

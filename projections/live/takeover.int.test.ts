import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { liveSubjects } from "../../domain/index.ts";
import { startFanout, type LiveFanout } from "./fanout.ts";
import { Recorder, startLiveWorld, within, type LiveWorld, type TestUser } from "./testing/liveWorld.ts";

/** The lease's time to live: a dead active fan-out is replaced within about this long. */
const LEASE_MS = 1500;

let world: LiveWorld;
const fanouts: LiveFanout[] = [];

beforeAll(async () => {
  world = await startLiveWorld();
});
afterEach(async () => {
  await Promise.all(fanouts.splice(0).map((f) => f.stop()));
});
afterAll(async () => {
  await world?.stop();
});

/** A fan-out on a connection of its own; resolves with both. */
async function fanout() {
  const nc = await world.sys.service("projections");
  const f = await startFanout(nc, { leaseMs: LEASE_MS, standbyPollMs: 100 });
  fanouts.push(f);
  return { f, nc };
}

/** A public room Bob watches on live.room, with a way for Alice to post in it. */
async function watchedRoom(): Promise<{
  roomId: string;
  watcher: Recorder;
  bob: TestUser;
  post: (body: string) => Promise<number>;
  seen: (seq: number) => Promise<unknown>;
}> {
  const [alice, bob] = [await world.user("alice"), await world.user("bob")];
  const roomId = await world.room(alice, "public", [], [bob]);
  const watcher = new Recorder();
  watcher.listen(bob.nc, liveSubjects.room(roomId));
  await bob.nc.flush();
  return {
    roomId,
    watcher,
    bob,
    post: async (body) => (await alice.send("msg.post", { roomId, body })).seq,
    seen: (seq) => watcher.waitFor((r) => r.event.seq === seq, `post #${seq} on live.room`, 10_000),
  };
}

/** How many times each sequence arrived. */
const counts = (w: Recorder) =>
  w.received.reduce((m, r) => m.set(r.event.seq, (m.get(r.event.seq) ?? 0) + 1), new Map<number, number>());

test("when the active fan-out stops, the standby takes over where it got: every event once", async () => {
  const { f: a } = await fanout();
  await within(a.whenActive(), 10_000, "a to become the active fan-out");
  const { f: b } = await fanout();
  const room = await watchedRoom();
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) seqs.push(await room.post(`before ${i}`));
  await room.seen(seqs.at(-1)!);
  expect(b.status).not.toBe("active");
  // A standby routes ephemeral events too (presence may lead elsewhere), reading the room from the log.
  await b.publishToRoom(room.roomId, {
    seq: 0,
    time: new Date().toISOString(),
    type: "Presence",
    actor: room.bob.id,
    roomId: room.roomId,
    payload: { userId: room.bob.id, status: "online" },
  });
  await room.watcher.waitFor((r) => r.event.type === "Presence", "a Presence event from the standby");

  await a.stop();
  // Posted while neither is active: the standby starts after what the stopped one handled.
  seqs.push(await room.post("in between"));
  await within(b.whenActive(), 10_000, "b to become the active fan-out");
  expect(a.status).toBe("stopped");
  for (let i = 0; i < 3; i++) seqs.push(await room.post(`after ${i}`));
  for (const seq of seqs) await room.seen(seq);
  await room.bob.nc.flush();
  // The room's own first events (Bob's join) may come before or after the watcher listened: count from the first post on.
  const counted = [...counts(room.watcher)].filter(([seq]) => seq === 0 || seq >= seqs[0]!);
  expect(Object.fromEntries(counted)).toEqual(Object.fromEntries([0, ...seqs].map((seq) => [seq, 1])));
});

test("when the active fan-out dies, a standby takes over within the lease's time and delivers what came meanwhile", async () => {
  const { f: a, nc } = await fanout();
  await within(a.whenActive(), 10_000, "a to become the active fan-out");
  const { f: c } = await fanout();
  const room = await watchedRoom();
  const before = await room.post("before");
  await room.seen(before);
  expect(c.status).not.toBe("active");

  // A crash: the connection is gone, the lease is neither renewed nor given up.
  await nc.close();
  const meanwhile = await room.post("while the active one is dead");
  await within(c.whenActive(), 10_000, "c to become the active fan-out");
  const after = await room.post("after the takeover");
  await room.seen(meanwhile);
  await room.seen(after);
  await room.bob.nc.flush();
  // What the dead one handled in its last second may come twice (it records its position every
  // second): the room's first events up to "before"; what came after, exactly once.
  for (const [seq, n] of counts(room.watcher)) expect(n, `post #${seq}`).toBeLessThanOrEqual(seq <= before ? 2 : 1);
});

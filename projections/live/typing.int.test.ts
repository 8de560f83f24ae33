import { afterAll, beforeAll, expect, test } from "vitest";
import { liveSubjects } from "../../domain/index.ts";
import type { LiveFanout } from "./fanout.ts";
import { startLive } from "./live.ts";
import { Recorder, startLiveWorld, within, type LiveWorld, type Received, type TestUser } from "./testing/liveWorld.ts";

let world: LiveWorld;
let live: LiveFanout;

beforeAll(async () => {
  world = await startLiveWorld();
  live = await startLive(await world.sys.service("projections"));
  await within(live.whenActive(), 10_000, "the fan-out to become active");
});
afterAll(async () => {
  await live?.stop();
  await world?.stop();
});

/** `u` says they are typing in `roomId`; resolves once the server has it. */
async function type(u: TestUser, roomId: string): Promise<void> {
  u.nc.publish(liveSubjects.typing(u.id, roomId), "");
  await u.nc.flush();
}

const typingOf = (u: TestUser, roomId: string) => (r: Received) =>
  r.event.type === "Typing" && r.event.actor === u.id && r.event.roomId === roomId;

test("typing reaches the room's members as a Typing event, and a non-member's is dropped", async () => {
  const [alice, bob, dave] = [await world.user("alice"), await world.user("bob"), await world.user("dave")];
  const roomId = await world.room(alice, "private", [bob]);
  // The fan-out reads the room's creation (so it has it cached) before anyone types.
  await world.barrier();
  await type(dave, roomId);
  await type(alice, roomId);
  const got = await bob.inbox.waitFor(typingOf(alice, roomId), "Alice typing, at Bob");
  expect(got.subject).toBe(liveSubjects.member(bob.id, roomId));
  expect(got.event).toMatchObject({ seq: 0, type: "Typing", actor: alice.id, roomId, payload: { userId: alice.id } });
  // Dave's came first, on a flushed connection: had it been relayed, Bob would have it by now.
  await bob.nc.flush();
  expect(bob.inbox.received.filter(typingOf(dave, roomId))).toEqual([]);
  expect(dave.inbox.received.filter((r) => r.event.roomId === roomId)).toEqual([]);
});

test("in a public room typing goes to live.room, from members only, at most once per user and room every second", async () => {
  const [alice, bob, carol, erin] = [
    await world.user("alice"),
    await world.user("bob"),
    await world.user("carol"),
    await world.user("erin"),
  ];
  const roomId = await world.room(alice, "public", [], [bob, carol]);
  const watcher = new Recorder();
  watcher.listen(erin.nc, liveSubjects.room(roomId));
  await erin.nc.flush();
  await world.barrier();
  await type(erin, roomId);
  for (let i = 0; i < 3; i++) await type(bob, roomId);
  await type(carol, roomId);
  await watcher.waitFor(typingOf(carol, roomId), "Carol typing, last");
  await erin.nc.flush();
  expect(watcher.received.filter(typingOf(bob, roomId))).toHaveLength(1);
  expect(watcher.received.filter(typingOf(erin, roomId))).toEqual([]);
});

test("no one types in an archived room", async () => {
  const [alice, bob] = [await world.user("alice"), await world.user("bob")];
  const archived = await world.room(alice, "private", [bob]);
  const open = await world.room(alice, "private", [bob]);
  await alice.send("room.archive", { roomId: archived });
  await world.barrier();
  await type(bob, archived);
  await type(bob, open);
  await alice.inbox.waitFor(typingOf(bob, open), "Bob typing in the open room");
  await alice.nc.flush();
  expect(alice.inbox.received.filter(typingOf(bob, archived))).toEqual([]);
});

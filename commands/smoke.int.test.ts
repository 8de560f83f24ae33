import { afterAll, beforeAll, expect, test } from "vitest";
import { startCommandHarness, type CommandHarness } from "../test/commandHarness.ts";
import { mustSend, sendCommand } from "../test/commandClient.ts";

let h: CommandHarness;
beforeAll(async () => {
  h = await startCommandHarness();
});
afterAll(async () => {
  await h.stop();
});

test("a room is created, joined and posted in", async () => {
  const created = await mustSend(h.nc, "alice", "room.create", { name: "general", kind: "public" });
  const roomId = created.result["roomId"] as string;
  await mustSend(h.nc, "bob", "room.join", { roomId });
  const posted = await mustSend(h.nc, "bob", "msg.post", { roomId, body: "hello" });
  expect(posted.result["seq"]).toBe(posted.seq);
  const events = await h.allEvents();
  expect(events.map((e) => e.type)).toEqual(["RoomCreated", "MemberJoined", "MessagePosted"]);
  const refused = await sendCommand(h.nc, "carol", "msg.post", { roomId, body: "hi" });
  expect(refused).toMatchObject({ ok: false, error: { code: "forbidden" } });
});

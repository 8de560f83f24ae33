import { afterAll, beforeAll, expect, test } from "vitest";
import { ulid } from "ulid";
import { mustSend, sendCommand } from "../test/commandClient.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { encodeEvent, childTrace } from "../streams/index.ts";

let s: SystemHarness;
beforeAll(async () => { s = await startSystem(); });
afterAll(async () => { await s.stop(); });

test("speed", async () => {
  const rooms: string[] = [];
  for (let i = 0; i < 4; i++) rooms.push((await mustSend(s.nc, "alice", "room.create", { name: "r" + i, kind: "public" })).result["roomId"] as string);
  let t0 = Date.now();
  let next = 0;
  const N = 3000;
  await Promise.all(Array.from({ length: 64 }, async () => { while (next < N) { const i = next++; await mustSend(s.nc, "alice", "msg.post", { roomId: rooms[i % 4], body: "m" + i }); } }));
  console.log("cmd", N, Date.now() - t0);
  t0 = Date.now();
  const M = 20000;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < M; i++) {
    const id = ulid();
    const e = encodeEvent({ type: "MessagePosted", data: { roomId: rooms[i % 4]!, messageId: id, authorId: "alice", body: "bulk " + i, mentions: [] } } as any, { actor: "alice", commandId: id, correlationId: id, causationId: id, trace: childTrace() });
    pending.push(s.store.js.publish(e.subject, e.payload, { headers: e.headers, msgID: e.msgId }));
    if (pending.length >= 1000) { await Promise.all(pending); pending.length = 0; }
  }
  await Promise.all(pending);
  console.log("direct", M, Date.now() - t0);
  t0 = Date.now();
  await s.caughtUp(await s.lastSeq(), 60000);
  console.log("caughtup", Date.now() - t0);
}, 120000);

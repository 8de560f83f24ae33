import { afterAll, beforeAll, expect, test } from "vitest";
import { mustSend } from "../test/commandClient.ts";
import { startSystem, type SystemHarness } from "../test/systemHarness.ts";
import { replayCli } from "../test/replayCli.ts";

let s: SystemHarness;
beforeAll(async () => { s = await startSystem(); });
afterAll(async () => { await s.stop(); });

test("timing", async () => {
  const roomId = (await mustSend(s.nc, "alice", "room.create", { name: "after", kind: "public" })).result["roomId"] as string;
  await s.caughtUp(await s.lastSeq());
  const cli = await replayCli(s.server.url, s.database.url);
  for (const args of [["--help"], ["audit", "--actor", "alice"], ["audit", "--actor", "alice", "--from-log"], ["audit", "--room", roomId, "--from-log"], ["list"], ["audit", "--bogus"]]) {
    const t0 = Date.now();
    const r = await cli.run(args);
    console.log(args.join(" "), r.code, Date.now() - t0);
  }
}, 60000);

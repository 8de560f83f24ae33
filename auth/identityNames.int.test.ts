import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { userIdFromSub, type LiveEvent } from "../domain/index.ts";
import { sendCommand } from "../test/commandClient.ts";
import { startReadHarness, type ReadHarness } from "../test/readHarness.ts";

let h: ReadHarness;

beforeAll(async () => {
  h = await startReadHarness();
}, 60_000);
afterAll(async () => {
  await h.stop();
});

/** Connects as a script or bot would (a token, nothing else sent) and closes again. */
async function connectOnce(username: string, claims: Record<string, unknown> = {}): Promise<string> {
  const userId = userIdFromSub(h.issuer.subOf(username));
  const nc = await h.sys.user(await h.issuer.token(username, ["user"], claims), userId);
  await nc.flush();
  await nc.close();
  await h.sys.identityNames.settled();
  return userId;
}

/** The identity names recorded for `userId`, in order. */
async function identityEvents(userId: string): Promise<unknown[]> {
  return (await h.store.readSubject(`ev.user.${userId}`))
    .filter((e) => e.type === "UserProfileUpdated")
    .map((e) => (e.event.data as { identityName?: string }).identityName);
}

/** What `viewer` reads as `userId`'s name from the `users` query, once the projections have the log's end. */
async function nameAs(viewer: keyof ReadHarness["users"], userId: string): Promise<string | undefined> {
  await h.caughtUp();
  const answer = await h.users[viewer].get<{ users: { userId: string; displayName: string }[] }>(
    `/api/users?ids=${userId}`,
  );
  expect(answer.status).toBe(200);
  return answer.body.users.find((u) => u.userId === userId)?.displayName;
}

describe("a person's name comes from their token", () => {
  test("a client that never sends user.profile is named in the log exactly once, however often it connects", async () => {
    let erin = "";
    for (let i = 0; i < 4; i++) erin = await connectOnce("erin");
    expect(await identityEvents(erin)).toEqual(["erin"]);
    const [event] = await h.store.readSubject(`ev.user.${erin}`);
    expect(event).toMatchObject({ type: "UserProfileUpdated", actor: erin });
    expect(await nameAs("alice", erin)).toBe("erin");
  });

  test("the token's name, where present, is the name; a changed one is recorded once more", async () => {
    const fred = await connectOnce("fred");
    await connectOnce("fred", { name: "Fred  Fisher" });
    await connectOnce("fred", { name: "Fred Fisher" });
    expect(await identityEvents(fred)).toEqual(["fred", "Fred Fisher"]);
    expect(await nameAs("bob", fred)).toBe("Fred Fisher");
  });

  test("a display name the person chose wins over their identity's, also when that changes later", async () => {
    const gina = await connectOnce("gina", { name: "Gina G" });
    const nc = await h.sys.user(await h.issuer.token("gina", ["user"], { name: "Gina G" }), gina);
    const chosen = await sendCommand(nc, gina, "user.profile", { displayName: "GG" });
    expect(chosen.ok).toBe(true);
    await nc.close();
    expect(await nameAs("alice", gina)).toBe("GG");
    await connectOnce("gina", { name: "Gina Grey" });
    expect(await identityEvents(gina)).toEqual(["Gina G", undefined, "Gina Grey"]);
    expect(await nameAs("alice", gina)).toBe("GG");
  });

  test("a client that only uses the read API over HTTP is named as well", async () => {
    const hana = userIdFromSub(h.issuer.subOf("hana"));
    const token = await h.issuer.token("hana", ["user"], { name: "Hana H" });
    for (let i = 0; i < 2; i++)
      expect((await h.fetchApi("/api/rooms", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    await h.sys.identityNames.settled();
    expect(await identityEvents(hana)).toEqual(["Hana H"]);
  });

  test("no user may record an identity name: svccmd. is not theirs, and the command on cmd. is forbidden", async () => {
    const { bob } = h.users;
    const refused = await sendCommand(bob.nc, bob.id, "user.identity", { name: "Root" });
    expect(refused).toMatchObject({ ok: false, error: { code: "forbidden" } });
    await expect(
      bob.nc.request(
        `svccmd.${bob.id}.user.identity`,
        JSON.stringify({ commandId: "01JD2X0000000000000000000A", name: "Root" }),
        { timeout: 2000 },
      ),
    ).rejects.toThrow(/permission|timeout/i);
    expect(await identityEvents(bob.id)).toEqual(["bob"]);
  });
});

describe("a name change reaches everyone who shares a room with that person, live", () => {
  /** Collects what `nc` hears on `subject` until `until` holds. */
  function listen(nc: NatsConnection, subject: string, until: (e: LiveEvent) => boolean): Promise<LiveEvent> {
    return new Promise((resolve) => {
      const sub = nc.subscribe(subject, {
        callback: (_err, m) => {
          const e = m.json<LiveEvent>();
          if (until(e)) {
            sub.unsubscribe();
            resolve(e);
          }
        },
      });
    });
  }

  test("in a public room on live.room.<roomId>, in a private one on each member's deliver.<uid>.room.<roomId>", async () => {
    const { alice, dave } = h.users;
    const lobby = (await dave.cmd("room.create", { name: "names lobby", kind: "public" })).result["roomId"] as string;
    await alice.cmd("room.join", { roomId: lobby });
    const den = (await dave.cmd("room.create", { name: "names den", kind: "private", members: [alice.id] })).result[
      "roomId"
    ] as string;
    await h.caughtUp();
    const renamed = (e: LiveEvent) =>
      e.type === "UserProfileUpdated" && e.payload["userId"] === dave.id && e.payload["identityName"] === "Dave Davis";
    const inLobby = listen(alice.nc, `live.room.${lobby}`, renamed);
    const inDen = listen(alice.nc, `deliver.${alice.id}.room.${den}`, renamed);
    await alice.nc.flush();
    await connectOnce("dave", { name: "Dave Davis" });
    expect(await inLobby).toMatchObject({ roomId: lobby, actor: dave.id });
    expect(await inDen).toMatchObject({ roomId: den });
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveSubjects, type LiveEvent } from "../domain/index.ts";
import { startReadHarness, type Actor, type ReadHarness } from "../test/readHarness.ts";

/**
 * Every query that takes a room, message or user id, asked by someone who may not see it, over
 * HTTP and NATS: the same 404 as for a room that does not exist, and no data.
 */
let h: ReadHarness;
const rooms: Record<"secret" | "dm" | "banned" | "left", { roomId: string; messageId: string; seq: number }> =
  {} as never;
let general: string;

beforeAll(async () => {
  h = await startReadHarness();
  const { alice, bob, dave } = h.users;
  const make = async (key: keyof typeof rooms, body: Record<string, unknown>) => {
    const roomId = (await alice.cmd("room.create", body)).result["roomId"] as string;
    const post = await alice.cmd("msg.post", { roomId, body: `hidden words in ${key}` });
    await alice.cmd("msg.edit", {
      roomId,
      messageId: post.result["messageId"],
      body: `hidden words in ${key}, edited`,
    });
    rooms[key] = { roomId, messageId: post.result["messageId"] as string, seq: post.seq };
  };
  general = (await alice.cmd("room.create", { name: "general", kind: "public" })).result["roomId"] as string;
  await dave.cmd("room.join", { roomId: general });
  await make("secret", { name: "secret", kind: "private", members: [bob.id] });
  await make("dm", { name: "dm", kind: "dm", members: [bob.id] });
  await make("banned", { name: "lobby", kind: "public" });
  await dave.cmd("room.join", { roomId: rooms.banned.roomId });
  await alice.cmd("room.ban", { roomId: rooms.banned.roomId, userId: dave.id });
  await make("left", { name: "was mine", kind: "private", members: [dave.id] });
  await alice.cmd("room.remove", { roomId: rooms.left.roomId, userId: dave.id });
  await h.caughtUp();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/** Each room-scoped query, as HTTP path and NATS query, for a room and a message in it. */
function asks(
  roomId: string,
  messageId: string,
): { http: string; post?: unknown; nats: string; body: Record<string, unknown> }[] {
  return [
    { http: `/api/rooms/${roomId}`, nats: "room", body: { roomId } },
    { http: `/api/rooms/${roomId}/messages`, nats: "messages", body: { roomId } },
    {
      http: `/api/rooms/${roomId}/messages?around=${messageId}`,
      nats: "messages",
      body: { roomId, around: messageId },
    },
    { http: `/api/rooms/${roomId}/changes?after=0`, nats: "changes", body: { roomId, after: 0 } },
    { http: `/api/rooms/${roomId}/threads/${messageId}`, nats: "thread", body: { roomId, messageId } },
    { http: `/api/rooms/${roomId}/messages/${messageId}/history`, nats: "history", body: { roomId, messageId } },
    { http: `/api/rooms/${roomId}/messages/${messageId}/read-by`, nats: "readBy", body: { roomId, messageId } },
    { http: `/api/rooms/${roomId}/bans`, nats: "bans", body: { roomId } },
    { http: `/api/rooms/${roomId}/read`, post: { seq: 1 }, nats: "markRead", body: { roomId, seq: 1 } },
    { http: `/api/search?q=hidden&roomId=${roomId}`, nats: "search", body: { q: "hidden", roomId } },
  ];
}

async function expectHidden(who: Actor, roomId: string, messageId: string): Promise<void> {
  for (const a of asks(roomId, messageId)) {
    const http = a.post === undefined ? await who.get(a.http) : await who.post(a.http, a.post);
    expect(http.status, `${a.http}`).toBe(404);
    expect(http.body, `${a.http}`).toEqual({
      error: { code: "not_found", message: `no room ${roomId}`, details: { roomId } },
    });
    const nats = await who.q(a.nats, a.body);
    expect(nats, `q.${a.nats}`).toEqual({
      ok: false,
      error: { code: "not_found", message: `no room ${roomId}`, details: { roomId } },
    });
  }
}

describe("a room the caller may not read answers like a room that does not exist", () => {
  it("a room that does not exist", async () => {
    await expectHidden(h.users.dave, "01NOSUCHROOM0000000000000A", "01NOSUCHMESSAGE00000000000");
  });

  it("a private room and a DM, to a user not in them", async () => {
    for (const key of ["secret", "dm"] as const) {
      await expectHidden(h.users.dave, rooms[key].roomId, rooms[key].messageId);
      await expectHidden(h.users.charlie, rooms[key].roomId, rooms[key].messageId);
    }
  });

  it("a public room the caller is banned from", async () => {
    await expectHidden(h.users.dave, rooms.banned.roomId, rooms.banned.messageId);
  });

  it("a private room the caller was removed from", async () => {
    await expectHidden(h.users.dave, rooms.left.roomId, rooms.left.messageId);
  });

  it("the members of those rooms do see them (the refusals above are not blanket)", async () => {
    const { bob, alice } = h.users;
    for (const key of ["secret", "dm"] as const) {
      expect((await bob.get(`/api/rooms/${rooms[key].roomId}/messages`)).body.messages).toHaveLength(1);
      expect(
        (await bob.q("history", { roomId: rooms[key].roomId, messageId: rooms[key].messageId })).result.edits,
      ).toHaveLength(1);
    }
    // Admins read every room.
    expect((await alice.get(`/api/rooms/${rooms.left.roomId}/messages`)).status).toBe(200);
    // A user with no role reads public rooms.
    expect((await h.users.charlie.get(`/api/rooms/${general}/messages`)).status).toBe(200);
  });
});

describe("queries over many rooms leave out what the caller may not read", () => {
  it("search, the caller's rooms and the directory", async () => {
    const { dave } = h.users;
    const hits = await dave.get(`/api/search?q=hidden`);
    expect(hits.status).toBe(200);
    expect(hits.body.hits).toEqual([]);
    const mine = await dave.get(`/api/rooms`);
    expect(mine.body.rooms.map((r: { roomId: string }) => r.roomId)).toEqual([general]);
    const dir = await dave.get(`/api/rooms/public`);
    expect(dir.body.rooms.map((r: { roomId: string }) => r.roomId)).toEqual([general]);
  });

  it("a message id from another room is not found through a room the caller reads", async () => {
    const { dave } = h.users;
    const res = await dave.get(`/api/rooms/${general}/messages/${rooms.secret.messageId}/history`);
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).not.toContain("hidden words");
  });

  it("presence only of users who share a room with the caller", async () => {
    const { dave, bob, alice } = h.users;
    const res = await dave.get(`/api/presence?userIds=${bob.id},${alice.id}`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.presence)).toEqual([alice.id]);
    const nats = await dave.q("presence", { userIds: [bob.id] });
    expect(nats).toEqual({ ok: true, result: { presence: {} } });
  });

  it("the audit log is for admins only, over HTTP and NATS", async () => {
    const { dave, bob } = h.users;
    expect((await dave.get(`/api/audit?roomId=${rooms.secret.roomId}`)).status).toBe(403);
    expect(await bob.q("audit", { roomId: rooms.secret.roomId })).toMatchObject({
      ok: false,
      error: { code: "forbidden" },
    });
    // NATS itself refuses a non-admin the admin subject.
    await expect(bob.nc.request(`adminq.${bob.id}.audit`, "{}", { timeout: 2000 })).rejects.toThrow();
  });
});

// After the block above: this room is public and dave reads it again at the end.
describe("a room's bans, for its owners and moderators only", () => {
  it("owners, moderators and admins see who is banned; a member, a reader of the public room and the banned user get the same 404 as for a hidden room", async () => {
    const { alice, bob, charlie, dave } = h.users;
    // bob owns the room (no admin among its members but alice, who is not one).
    const roomId = (await bob.cmd("room.create", { name: "bob's square", kind: "public" })).result["roomId"] as string;
    await dave.cmd("room.join", { roomId });
    await alice.cmd("room.join", { roomId });
    await bob.cmd("room.role", { roomId, userId: alice.id, role: "member" });
    const ban = await bob.cmd("room.ban", { roomId, userId: dave.id, reason: "spam" });
    await h.caughtUp();
    // dave's name is his token's, recorded when he connected.
    const expected = {
      bans: [{ userId: dave.id, displayName: "dave", bannedBy: bob.id, reason: "spam", seq: ban.seq }],
    };

    // The owner, over HTTP and NATS.
    expect((await bob.get(`/api/rooms/${roomId}/bans`)).body).toEqual(expected);
    expect(await bob.q("bans", { roomId })).toEqual({ ok: true, result: expected });
    // An admin over HTTP (the token's role), and over NATS on adminq. only.
    expect((await alice.get(`/api/rooms/${roomId}/bans`)).body).toEqual(expected);
    expect(await alice.q("bans", { roomId }, { admin: true })).toEqual({ ok: true, result: expected });

    // charlie reads the public room but may not see its bans; alice as a plain member on q. neither.
    const hidden = { ok: false, error: { code: "not_found", message: `no room ${roomId}`, details: { roomId } } };
    expect((await charlie.get(`/api/rooms/${roomId}`)).status).toBe(200);
    expect((await charlie.get(`/api/rooms/${roomId}/bans`)).status).toBe(404);
    expect(await charlie.q("bans", { roomId })).toEqual(hidden);
    expect(await alice.q("bans", { roomId })).toEqual(hidden);
    expect(await dave.q("bans", { roomId })).toEqual(hidden);

    // A moderator sees them; lifted, the ban is gone from the list (read your writes by minSeq).
    await bob.cmd("room.role", { roomId, userId: alice.id, role: "moderator" });
    await h.caughtUp();
    expect(await alice.q("bans", { roomId })).toEqual({ ok: true, result: expected });
    const unban = await alice.cmd("room.unban", { roomId, userId: dave.id });
    expect((await bob.get(`/api/rooms/${roomId}/bans?minSeq=${unban.seq}`)).body).toEqual({ bans: [] });
    expect((await dave.get(`/api/rooms/${roomId}`)).status).toBe(200);
  });
});

describe("live delivery follows membership", () => {
  it("a member removed from a private room receives nothing of it after the removal, and nothing goes on its public subject", async () => {
    const { alice, bob, dave } = h.users;
    const roomId = (await alice.cmd("room.create", { name: "team", kind: "private", members: [bob.id, dave.id] }))
      .result["roomId"] as string;
    const received = (who: Actor, subject: string) => {
      const got: LiveEvent[] = [];
      const sub = who.nc.subscribe(subject, {
        callback: (err, m) => void (err ? undefined : got.push(m.json<LiveEvent>())),
      });
      return { got, sub };
    };
    const daveRoom = received(dave, liveSubjects.member(dave.id, roomId));
    const daveNotices = received(dave, liveSubjects.notice(dave.id));
    const daveSpy = received(dave, liveSubjects.room(roomId));
    const bobRoom = received(bob, liveSubjects.member(bob.id, roomId));
    await Promise.all([dave.nc.flush(), bob.nc.flush()]);
    const before = await alice.cmd("msg.post", { roomId, body: "while dave is here" });
    const removal = await alice.cmd("room.remove", { roomId, userId: dave.id });
    const after = await alice.cmd("msg.post", { roomId, body: "after dave left" });
    const edit = await alice.cmd("msg.edit", {
      roomId,
      messageId: before.result["messageId"],
      body: "edited after dave left",
    });
    // Bob got everything, the last edit included: so all of it has been delivered by now.
    const deadline = Date.now() + 10_000;
    while (!bobRoom.got.some((e) => e.seq === edit.seq)) {
      if (Date.now() > deadline) throw new Error("bob never got the edit");
      await new Promise((r) => setTimeout(r, 20));
    }
    await dave.nc.flush();
    // The room's creation may reach them before or after they listened: count from the first post.
    const fromFirstPost = (got: LiveEvent[]) => got.filter((e) => e.seq >= before.seq).map((e) => e.seq);
    expect(fromFirstPost(bobRoom.got)).toEqual([before.seq, removal.seq, after.seq, edit.seq]);
    expect(fromFirstPost(daveRoom.got)).toEqual([before.seq]);
    expect(daveNotices.got.filter((e) => e.seq >= before.seq).map((e) => [e.type, e.seq])).toEqual([
      ["MemberRemoved", removal.seq],
    ]);
    expect(daveSpy.got).toEqual([]);
    for (const x of [daveRoom, daveNotices, daveSpy, bobRoom]) x.sub.unsubscribe();
  });

  it("a user banned from a public room gets nothing more of it, though anyone may subscribe to live.room.*", async () => {
    const { alice, bob, dave } = h.users;
    const roomId = (await alice.cmd("room.create", { name: "town square", kind: "public" })).result["roomId"] as string;
    await bob.cmd("room.join", { roomId });
    await dave.cmd("room.join", { roomId });
    const got = { daveLive: [] as LiveEvent[], bobLive: [] as LiveEvent[], bobOwn: [] as LiveEvent[] };
    const subs = [
      dave.nc.subscribe(liveSubjects.room(roomId), {
        callback: (err, m) => void (err ? undefined : got.daveLive.push(m.json<LiveEvent>())),
      }),
      bob.nc.subscribe(liveSubjects.room(roomId), {
        callback: (err, m) => void (err ? undefined : got.bobLive.push(m.json<LiveEvent>())),
      }),
      bob.nc.subscribe(liveSubjects.member(bob.id, roomId), {
        callback: (err, m) => void (err ? undefined : got.bobOwn.push(m.json<LiveEvent>())),
      }),
    ];
    await Promise.all([dave.nc.flush(), bob.nc.flush()]);
    const before = await alice.cmd("msg.post", { roomId, body: "all welcome" });
    const ban = await alice.cmd("room.ban", { roomId, userId: dave.id });
    const after = await alice.cmd("msg.post", { roomId, body: "dave cannot see this" });
    const unban = await alice.cmd("room.unban", { roomId, userId: dave.id });
    const open = await alice.cmd("msg.post", { roomId, body: "open again" });
    const deadline = Date.now() + 10_000;
    while (!got.bobLive.some((e) => e.seq === open.seq)) {
      if (Date.now() > deadline) throw new Error("bob never got the last post");
      await new Promise((r) => setTimeout(r, 20));
    }
    await dave.nc.flush();
    // While the ban is in force the room's events go to each member; bob misses nothing.
    const fromFirstPost = (list: LiveEvent[]) => list.filter((e) => e.seq >= before.seq).map((e) => e.seq);
    expect(fromFirstPost([...got.bobLive, ...got.bobOwn]).sort((a, b) => a - b)).toEqual([
      before.seq,
      ban.seq,
      after.seq,
      unban.seq,
      open.seq,
    ]);
    // Dave reads the room again from his unban on.
    expect(fromFirstPost(got.daveLive)).toEqual([before.seq, unban.seq, open.seq]);
    expect(JSON.stringify(got.daveLive)).not.toContain("dave cannot see this");
    for (const s of subs) s.unsubscribe();
  });
});

describe("read your writes: every query takes minSeq", () => {
  // Last in this file: it stops the projectors to hold a sequence back.
  it("users, presence and a read marker wait for it, and answer marked stale when it does not come", async () => {
    const { alice, bob } = h.users;
    await h.caughtUp();
    // Anyone may ask for a minSeq beyond the log's end: it is answered at once, and must not make
    // the events that come later below it count as applied.
    const beyond = await bob.get(`/api/users?q=al&minSeq=${(await h.store.lastSeq()) + 1_000_000}`);
    expect(beyond.headers.get("natter-stale")).toBeNull();
    for (const name of ["rooms", "timeline"]) await h.projections.projectors.get(name)!.stop();
    // A room event and a message that no read model will apply now.
    const topic = await alice.cmd("room.topic", { roomId: general, topic: "held back" });
    const post = await alice.cmd("msg.post", { roomId: general, body: "held back" });
    const users = await bob.get(`/api/users?q=al&minSeq=${topic.seq}`);
    expect(users.status).toBe(200);
    expect(users.headers.get("natter-stale")).toBe("1");
    expect((await bob.get(`/api/users?q=al`)).headers.get("natter-stale")).toBeNull();
    expect((await bob.get(`/api/presence?userIds=${alice.id}&minSeq=${topic.seq}`)).headers.get("natter-stale")).toBe(
      "1",
    );
    // A read marker waits for its own message without being told, then is kept to the last
    // message the timeline has.
    const mark = await bob.post<{ seq: number }>(`/api/rooms/${general}/read`, { seq: post.seq });
    expect(mark.status).toBe(200);
    expect(mark.headers.get("natter-stale")).toBe("1");
    expect(mark.body.seq).toBeLessThan(post.seq);
  });
});

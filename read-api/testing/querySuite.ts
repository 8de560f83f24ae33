import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReadHarness, type ReadHarness } from "../../test/readHarness.ts";
import { validated } from "../../test/openApiCheck.ts";

/** The read API's queries, end to end, on PostgreSQL or on PGlite (the embedded default). */
export function querySuite(options: { pglite: boolean }): void {
  let h: ReadHarness;
  let general: string;
  let secret: string;
  /** Message ids of general's 30 top-level posts, oldest first. */
  const posts: { id: string; seq: number }[] = [];

  beforeAll(async () => {
    h = await startReadHarness({ pglite: options.pglite });
    const { alice, bob } = h.users;
    general = (await alice.cmd("room.create", { name: "general", kind: "public", topic: "everything" })).result[
      "roomId"
    ] as string;
    await bob.cmd("room.join", { roomId: general });
    secret = (await alice.cmd("room.create", { name: "secret", kind: "private", members: [bob.id] })).result[
      "roomId"
    ] as string;
    for (let i = 0; i < 30; i++) {
      const author = i % 3 === 0 ? bob : alice;
      const r = await author.cmd("msg.post", {
        roomId: general,
        body: `message number ${i} about ${i % 2 === 0 ? "pelicans" : "otters"}`,
      });
      posts.push({ id: r.result["messageId"] as string, seq: r.seq });
    }
    await alice.cmd("msg.post", { roomId: secret, body: "the pelicans plan is secret" });
    await h.caughtUp();
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    // Every operation the suite exercised answered as the OpenAPI document says.
    expect(validated.size).toBeGreaterThan(8);
  });

  describe("timeline pages", () => {
    it("the latest page, then the one before it, in sequence order, with no gap and no overlap", async () => {
      const { bob } = h.users;
      const latest = await bob.get(`/api/rooms/${general}/messages?limit=10`);
      expect(latest.status).toBe(200);
      expect(latest.body.messages.map((m: { seq: number }) => m.seq)).toEqual(posts.slice(20).map((p) => p.seq));
      expect(latest.body).toMatchObject({ hasBefore: true, hasAfter: false });
      const before = await bob.get(`/api/rooms/${general}/messages?limit=10&before=${latest.body.messages[0].seq}`);
      expect(before.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual(
        posts.slice(10, 20).map((p) => p.id),
      );
      expect(before.body).toMatchObject({ hasBefore: true, hasAfter: true });
      const first = await bob.get(`/api/rooms/${general}/messages?limit=10&before=${posts[10]!.seq}`);
      expect(first.body).toMatchObject({ hasBefore: false, hasAfter: true });
      expect(first.body.messages).toHaveLength(10);
    });

    it("pages forward with after, and around a message centres on it", async () => {
      const { bob } = h.users;
      const after = await bob.get(`/api/rooms/${general}/messages?limit=7&after=${posts[4]!.seq}`);
      expect(after.body.messages.map((m: { seq: number }) => m.seq)).toEqual(posts.slice(5, 12).map((p) => p.seq));
      expect(after.body).toMatchObject({ hasBefore: true, hasAfter: true });
      const around = await bob.get(`/api/rooms/${general}/messages?limit=6&around=${posts[15]!.id}`);
      expect(around.body.messages.map((m: { messageId: string }) => m.messageId)).toEqual(
        posts.slice(12, 18).map((p) => p.id),
      );
      const missing = await bob.get(`/api/rooms/${general}/messages?around=01NOSUCHMESSAGE`);
      expect(missing.status).toBe(404);
    });

    it("refuses contradictory or malformed paging with the fields named", async () => {
      const { bob } = h.users;
      const both = await bob.get(`/api/rooms/${general}/messages?before=5&after=2`);
      expect(both.status).toBe(400);
      expect(both.body.error.code).toBe("invalid");
      const bad = await bob.get(`/api/rooms/${general}/messages?limit=100000`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.fields).toHaveProperty("limit");
    });

    it("a deleted message keeps its place without its body; edits, reactions and threads show", async () => {
      const { alice, bob } = h.users;
      const target = posts[25]!;
      await alice.cmd("msg.edit", { roomId: general, messageId: posts[26]!.id, body: "edited about otters" });
      await alice.cmd("msg.delete", { roomId: general, messageId: target.id });
      await bob.cmd("msg.react", { roomId: general, messageId: posts[27]!.id, emoji: "👍" });
      await alice.cmd("msg.react", { roomId: general, messageId: posts[27]!.id, emoji: "👍" });
      await alice.cmd("msg.react", { roomId: general, messageId: posts[27]!.id, emoji: "🎉" });
      const reply = await bob.cmd("msg.post", {
        roomId: general,
        body: "a reply in the thread",
        threadRootId: posts[28]!.id,
      });
      const page = await bob.get(`/api/rooms/${general}/messages?limit=5&minSeq=${reply.seq}`);
      const byId = new Map(page.body.messages.map((m: { messageId: string }) => [m.messageId, m]));
      expect(byId.get(target.id)).toMatchObject({ seq: target.seq, deleted: true, body: "" });
      expect(byId.get(posts[26]!.id)).toMatchObject({ body: "edited about otters" });
      expect((byId.get(posts[26]!.id) as { editedAt: string | null }).editedAt).not.toBeNull();
      expect(byId.get(posts[27]!.id)).toMatchObject({
        reactions: [
          { emoji: "👍", count: 2, userIds: [bob.id, alice.id], seqs: [expect.any(Number), expect.any(Number)] },
          { emoji: "🎉", count: 1, userIds: [alice.id], seqs: [expect.any(Number)] },
        ],
      });
      expect(byId.get(posts[28]!.id)).toMatchObject({ replyCount: 1 });
      // Thread replies live in their thread, not the room's timeline.
      expect(page.body.messages.some((m: { threadRootId: string | null }) => m.threadRootId !== null)).toBe(false);
      const thread = await bob.get(`/api/rooms/${general}/threads/${posts[28]!.id}`);
      expect(thread.status).toBe(200);
      expect(thread.body.root.messageId).toBe(posts[28]!.id);
      expect(thread.body.replies.map((m: { body: string }) => m.body)).toEqual(["a reply in the thread"]);
      expect(thread.body.participants).toEqual(expect.arrayContaining([alice.id, bob.id]));
      const history = await bob.get(`/api/rooms/${general}/messages/${posts[26]!.id}/history`);
      expect(history.body.edits).toEqual([
        expect.objectContaining({
          body: "edited about otters",
          previousBody: "message number 26 about pelicans",
          editedBy: alice.id,
        }),
      ]);
    });
  });

  describe("read your writes", () => {
    it("a command's seq as minSeq always shows the change", async () => {
      const { alice, bob } = h.users;
      for (let i = 0; i < 25; i++) {
        const r = await alice.cmd("msg.post", { roomId: general, body: `fresh ${i}` });
        const page = await bob.get(`/api/rooms/${general}/messages?limit=1&minSeq=${r.seq}`);
        expect(page.headers.get("natter-stale")).toBeNull();
        expect(page.body.messages[0].messageId).toBe(r.result["messageId"]);
        const edit = await alice.cmd("msg.edit", {
          roomId: general,
          messageId: r.result["messageId"],
          body: `fresher ${i}`,
        });
        const viaNats = await bob.q("messages", { roomId: general, limit: 1, minSeq: edit.seq });
        expect(viaNats.result.messages[0].body).toBe(`fresher ${i}`);
      }
    });
  });

  describe("rooms, unread and read markers", () => {
    it("lists the caller's rooms with unread and mention counts that read markers clear", async () => {
      const { alice, bob } = h.users;
      const mention = await alice.cmd("msg.post", { roomId: general, body: `hey @bob look`, mentions: [bob.id] });
      const rooms = await bob.get(`/api/rooms?minSeq=${mention.seq}`);
      expect(rooms.status).toBe(200);
      const g = rooms.body.rooms.find((r: { roomId: string }) => r.roomId === general);
      const s = rooms.body.rooms.find((r: { roomId: string }) => r.roomId === secret);
      expect(g).toMatchObject({ name: "general", kind: "public", role: "member", mentions: 1, readSeq: 0 });
      expect(s).toMatchObject({ name: "secret", kind: "private", unread: 1 });
      expect(g.unread).toBeGreaterThan(10);
      const marked = await bob.post(`/api/rooms/${general}/read`, { seq: mention.seq });
      expect(marked.body).toEqual({ roomId: general, seq: mention.seq });
      // Never back.
      const back = await bob.post(`/api/rooms/${general}/read`, { seq: 1 });
      expect(back.body.seq).toBe(mention.seq);
      const after = await bob.get(`/api/rooms`);
      expect(after.body.rooms.find((r: { roomId: string }) => r.roomId === general)).toMatchObject({
        unread: 0,
        mentions: 0,
        readSeq: mention.seq,
      });
      const readBy = await alice.get(`/api/rooms/${general}/messages/${mention.result["messageId"]}/read-by`);
      expect(readBy.body.userIds).toEqual([bob.id]);
      const earlier = await alice.get(`/api/rooms/${general}/messages/${posts[0]!.id}/read-by`);
      expect(earlier.body.userIds).toContain(bob.id);
    });

    it("a marker beyond the room's last message is held to it", async () => {
      const { bob } = h.users;
      const marked = await bob.q("markRead", { roomId: secret, seq: 10_000_000 });
      const rooms = await bob.q("rooms");
      const s = rooms.result.rooms.find((r: { roomId: string }) => r.roomId === secret);
      expect(marked.result.seq).toBe(s.lastSeq);
      expect(s.unread).toBe(0);
    });

    it("an invitation lists the room's name to the invited, until they join; members carry their display names", async () => {
      const { alice, bob, dave } = h.users;
      await bob.cmd("user.profile", { displayName: "Bob Lee" });
      const invited = await alice.cmd("room.invite", { roomId: secret, userId: dave.id });
      const mine = await dave.get(`/api/rooms?minSeq=${invited.seq}`);
      expect(mine.body.invitations).toEqual([
        expect.objectContaining({
          roomId: secret,
          name: "secret",
          kind: "private",
          invitedBy: alice.id,
          seq: invited.seq,
        }),
      ]);
      // Being invited lets dave know the room exists, not read it.
      expect((await dave.get(`/api/rooms/${secret}/messages`)).status).toBe(404);
      const joined = await dave.cmd("room.join", { roomId: secret });
      const after = await dave.get(`/api/rooms?minSeq=${joined.seq}`);
      expect(after.body.invitations).toEqual([]);
      expect(after.body.rooms.map((r: { roomId: string }) => r.roomId)).toContain(secret);
      const room = await dave.get(`/api/rooms/${secret}`);
      expect(room.body.room.members.find((m: { userId: string }) => m.userId === bob.id).displayName).toBe("Bob Lee");
      const found = await dave.get(`/api/users?q=bob%20l&minSeq=${joined.seq}`);
      expect(found.body.users).toEqual([{ userId: bob.id, displayName: "Bob Lee" }]);
      expect((await dave.get(`/api/users?q=%25`)).body.users).toEqual([]);
      const left = await dave.cmd("room.leave", { roomId: secret });
      expect(
        (await dave.get(`/api/rooms?minSeq=${left.seq}`)).body.rooms.map((r: { roomId: string }) => r.roomId),
      ).not.toContain(secret);
    });

    it("the public directory and a room's members", async () => {
      const { dave, alice, bob } = h.users;
      const dir = await dave.get(`/api/rooms/public`);
      expect(dir.body.rooms.map((r: { roomId: string }) => r.roomId)).toContain(general);
      expect(dir.body.rooms.map((r: { roomId: string }) => r.roomId)).not.toContain(secret);
      const room = await bob.get(`/api/rooms/${secret}`);
      expect(room.body.room.members).toEqual([
        expect.objectContaining({ userId: alice.id, role: "owner" }),
        expect.objectContaining({ userId: bob.id, role: "member" }),
      ]);
    });
  });

  describe("search", () => {
    it("finds ranked hits with highlights over what the caller may read, escaped", async () => {
      const { alice, bob, dave } = h.users;
      await alice.cmd("msg.post", { roomId: general, body: `<img src=x onerror=alert(1)> zebras & "quotes"` });
      const last = await alice.cmd("msg.post", { roomId: general, body: "zebras zebras zebras" });
      const hits = await bob.get(`/api/search?q=zebras&minSeq=${last.seq}`);
      expect(hits.status).toBe(200);
      expect(hits.body.hits).toHaveLength(2);
      expect(hits.body.hits[0].messageId).toBe(last.result["messageId"]);
      expect(hits.body.hits[0].highlight).toContain("<mark>zebras</mark>");
      const other = hits.body.hits[1].highlight as string;
      expect(other).toContain("&lt;img src=x onerror=alert(1)&gt;");
      expect(other).not.toContain("<img");
      const mine = await bob.get(`/api/search?q=pelicans`);
      expect(mine.body.hits.some((x: { roomId: string }) => x.roomId === secret)).toBe(true);
      const theirs = await dave.get(`/api/search?q=pelicans`);
      expect(theirs.body.hits.length).toBeGreaterThan(0);
      expect(theirs.body.hits.every((x: { roomId: string }) => x.roomId === general)).toBe(true);
      const inRoom = await dave.get(`/api/search?q=pelicans&roomId=${secret}`);
      expect(inRoom.status).toBe(404);
      expect(inRoom.body).toEqual({ error: expect.objectContaining({ code: "not_found" }) });
    });
  });

  describe("audit", () => {
    it("answers admins and refuses others", async () => {
      const { alice, bob } = h.users;
      const mine = await alice.get(`/api/audit?actor=${bob.id}&type=MemberJoined`);
      expect(mine.status).toBe(200);
      expect(mine.body.events).toEqual([
        expect.objectContaining({ type: "MemberJoined", actor: bob.id, roomId: general }),
      ]);
      const viaNats = await alice.q("audit", { actor: bob.id, type: "MemberJoined" }, { admin: true });
      expect(viaNats.result.events).toEqual(mine.body.events);
      const refused = await bob.get(`/api/audit`);
      expect(refused.status).toBe(403);
      expect(await bob.q("audit", {})).toMatchObject({ ok: false, error: { code: "forbidden" } });
    });
  });

  describe("the transports answer alike", () => {
    it("NATS and HTTP give the same rooms and pages", async () => {
      const { bob } = h.users;
      const seq = await h.store.lastSeq();
      await h.caughtUp(seq);
      const http = await bob.get(`/api/rooms/${general}/messages?limit=20`);
      const nats = await bob.q("messages", { roomId: general, limit: 20 });
      expect(nats).toEqual({ ok: true, result: http.body });
      expect((await bob.q("rooms.public")).result).toEqual((await bob.get("/api/rooms/public")).body);
      expect(await bob.q("no.such.query")).toMatchObject({ ok: false, error: { code: "invalid" } });
      const badJson = await bob.nc.request(`q.${bob.id}.rooms`, "{nope", { timeout: 5000 });
      expect(badJson.json()).toMatchObject({ ok: false, error: { code: "invalid" } });
    });

    it("health reports the database and each projection's lag", async () => {
      await h.caughtUp();
      const health = await h.api.health();
      expect(health).toMatchObject({ status: "ok", nats: "connected", database: "up" });
      expect(health.projections["timeline"]!.behind).toBe(0);
    });

    it("the OpenAPI document is served", async () => {
      const res = await h.fetchApi("/api/openapi.json");
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.paths)).toContain("/api/rooms/{roomId}/messages");
    });
  });
}

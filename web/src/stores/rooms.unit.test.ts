import { createRoot } from "solid-js";
import { describe, expect, test, vi } from "vitest";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Output } from "../server.ts";
import { createRooms, type RoomsServer } from "./rooms.ts";

const ME = "alice";
type Mine = Output<"rooms">["rooms"][number];
const room = (roomId: string, over: Partial<Mine> = {}): Mine => ({
  roomId,
  name: roomId,
  kind: "public",
  topic: "",
  archived: false,
  role: "member",
  unread: 0,
  mentions: 0,
  readSeq: 0,
  lastSeq: 0,
  ...over,
});
const ev = (
  seq: number,
  type: string,
  roomId: string,
  payload: Record<string, unknown>,
  messageId?: string,
): LiveEvent => ({
  seq,
  time: "2026-01-01T00:00:00Z",
  type,
  actor: "bob",
  roomId,
  ...(messageId === undefined ? {} : { messageId }),
  payload: { roomId, ...payload },
});
const post = (seq: number, roomId: string, over: Record<string, unknown> = {}) =>
  ev(seq, "MessagePosted", roomId, { authorId: "bob", body: "x", mentions: [], ...over }, `m${seq}`);

function fakeServer(mine: Mine[]) {
  const server = {
    mine,
    /** Open invitations the read API lists. */
    invitations: [] as Awaited<ReturnType<RoomsServer["rooms"]>>["invitations"],
    markRead: vi.fn(async (roomId: string, seq: number) => ({ roomId, seq })),
    rooms: vi.fn(async () => ({ rooms: server.mine, invitations: server.invitations })),
    publicRooms: vi.fn(async () => ({ rooms: [] })),
    room: vi.fn(async (roomId: string) => ({
      room: {
        roomId,
        name: roomId,
        kind: "private" as const,
        topic: "",
        archived: false,
        createdBy: ME,
        createdAt: "2026-01-01T00:00:00Z",
        members: [{ userId: ME, role: "owner" as const, joinedSeq: 1 }],
      },
    })),
  };
  return server;
}

describe("rooms store", () => {
  test("snapshot, then posts of others counted once each, mentions of the user counted, own and thread posts not unread", async () => {
    await createRoot(async (dispose) => {
      const server = fakeServer([room("a", { lastSeq: 10, readSeq: 8, unread: 2 }), room("b", { kind: "private" })]);
      const rooms = createRooms({ server: server as unknown as RoomsServer, me: ME });
      await rooms.refresh();
      expect(rooms.state.mine.map((r) => r.roomId)).toEqual(["a", "b"]);

      rooms.applyLive(post(9, "a")); // already counted in the snapshot
      rooms.applyLive(post(11, "a"));
      rooms.applyLive(post(11, "a")); // the same event again (a second subject)
      rooms.applyLive(post(12, "a", { mentions: [ME] }));
      rooms.applyLive(post(13, "a", { authorId: ME }));
      rooms.applyLive(post(14, "a", { threadRootId: "m11", mentions: [ME] }));
      expect(rooms.mine("a")).toMatchObject({ unread: 4, mentions: 2, lastSeq: 13 });

      await rooms.markRead("a", 13);
      expect(server.markRead).toHaveBeenCalledWith("a", 13);
      expect(rooms.mine("a")).toMatchObject({ unread: 0, mentions: 0, readSeq: 13 });
      await rooms.markRead("a", 12); // never back
      expect(server.markRead).toHaveBeenCalledTimes(1);
      dispose();
    });
  });

  test("room and member events: rename, topic, archive, members and roles; removal of the user drops the room", async () => {
    await createRoot(async (dispose) => {
      const server = fakeServer([room("a"), room("b", { kind: "private", role: "owner" })]);
      const gone = vi.fn();
      const rooms = createRooms({ server: server as unknown as RoomsServer, me: ME, onNoLongerMember: gone });
      await rooms.refresh();
      await rooms.loadDetail("b");
      rooms.applyLive(ev(20, "RoomRenamed", "b", { name: "beta", previousName: "b" }));
      rooms.applyLive(ev(21, "RoomTopicChanged", "b", { topic: "t", previousTopic: "" }));
      rooms.applyLive(ev(22, "MemberJoined", "b", { userId: "bob" }));
      rooms.applyLive(
        ev(23, "MemberRoleChanged", "b", { userId: "bob", role: "moderator", previousRole: "member", changedBy: ME }),
      );
      expect(rooms.mine("b")).toMatchObject({ name: "beta", topic: "t" });
      expect(rooms.state.details["b"]?.members.map((m) => [m.userId, m.role])).toEqual([
        [ME, "owner"],
        ["bob", "moderator"],
      ]);
      rooms.applyLive(ev(24, "MemberRemoved", "b", { userId: "bob", removedBy: ME }));
      expect(rooms.state.details["b"]?.members.map((m) => m.userId)).toEqual([ME]);
      rooms.applyLive(ev(25, "RoomArchived", "b", { archivedBy: ME }));
      expect(rooms.mine("b")?.archived).toBe(true);

      rooms.applyLive(ev(26, "MemberBanned", "a", { userId: ME, bannedBy: "bob" }));
      expect(rooms.mine("a")).toBeUndefined();
      expect(gone).toHaveBeenCalledWith("a");
      dispose();
    });
  });

  test("an invitation heard live is listed until joined; joining refreshes the list", async () => {
    await createRoot(async (dispose) => {
      const server = fakeServer([]);
      const rooms = createRooms({ server: server as unknown as RoomsServer, me: ME });
      await rooms.refresh();
      server.invitations = [
        {
          roomId: "p",
          name: "p",
          kind: "private",
          topic: "",
          archived: false,
          invitedBy: "bob",
          invitedByName: null,
          seq: 30,
        },
      ];
      rooms.applyLive(ev(30, "MemberInvited", "p", { userId: ME, invitedBy: "bob" }));
      rooms.applyLive(ev(30, "MemberInvited", "p", { userId: ME, invitedBy: "bob" }));
      await vi.waitFor(() =>
        expect(rooms.state.invitations).toEqual([{ roomId: "p", invitedBy: "bob", seq: 30, name: "p" }]),
      );
      server.mine = [room("p", { kind: "private" })];
      server.invitations = [];
      rooms.applyLive(ev(31, "MemberJoined", "p", { userId: ME }));
      await vi.waitFor(() => expect(rooms.mine("p")).toBeDefined());
      expect(rooms.state.invitations).toEqual([]);
      dispose();
    });
  });

  test("events during a refresh are held and applied on the new snapshot", async () => {
    await createRoot(async (dispose) => {
      const server = fakeServer([room("a", { lastSeq: 5 })]);
      let release!: () => void;
      server.rooms.mockImplementationOnce(
        () => new Promise((r) => (release = () => r({ rooms: server.mine, invitations: [] }))),
      );
      const rooms = createRooms({ server: server as unknown as RoomsServer, me: ME });
      const refreshing = rooms.refresh();
      rooms.applyLive(post(5, "a"));
      rooms.applyLive(post(6, "a"));
      release();
      await refreshing;
      expect(rooms.mine("a")).toMatchObject({ unread: 1, lastSeq: 6 });
      dispose();
    });
  });
});

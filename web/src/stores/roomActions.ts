import type { RoomKind, RoomRole } from "../../../domain/index.ts";
import type { CommandBody } from "../server.ts";
import type { Permissions } from "./permissions.ts";
import type { Presence } from "./presence.ts";
import type { Rooms } from "./rooms.ts";
import type { RunCommand } from "./toasts.ts";
import type { Users } from "./users.ts";

/** How rooms are named on screen: a DM by the other member's name. */
export function createRoomNames(deps: { rooms: Rooms; users: Users; me: string }) {
  const { rooms, users, me } = deps;
  const kindOf = (roomId: string): RoomKind | undefined =>
    rooms.mine(roomId)?.kind ?? rooms.state.details[roomId]?.kind;
  const dmPartner = (roomId: string): string | undefined =>
    rooms.state.details[roomId]?.members.find((m) => m.userId !== me)?.userId;
  const dmPartnerName = (roomId: string): string => {
    const other = dmPartner(roomId);
    return other === undefined ? (rooms.mine(roomId)?.name ?? "someone") : users.nameOf(other);
  };
  return {
    kindOf,
    dmPartner,
    /** A room as a sentence names it: "#general", "a direct message with bob". */
    roomLabel(roomId: string): string {
      const kind = kindOf(roomId);
      if (kind === "dm") return `a direct message with ${dmPartnerName(roomId)}`;
      const name = rooms.mine(roomId)?.name ?? rooms.state.details[roomId]?.name;
      return name === undefined ? "another room" : `#${name}`;
    },
    /** A room's name as shown: a DM by the other member's name. */
    roomName: (roomId: string): string =>
      kindOf(roomId) === "dm"
        ? dmPartnerName(roomId)
        : (rooms.mine(roomId)?.name ?? rooms.state.details[roomId]?.name ?? ""),
  };
}

export type RoomNames = ReturnType<typeof createRoomNames>;

/** Loading a room's members, and the commands on rooms and their members. */
export function createRoomActions(deps: {
  rooms: Rooms;
  users: Users;
  presence: Presence;
  me: string;
  names: RoomNames;
  can: Permissions;
  run: RunCommand;
}) {
  const { rooms, users, presence, me, names, can, run } = deps;

  const loadDetail = async (roomId: string, minSeq?: number): Promise<void> => {
    try {
      const d = await rooms.loadDetail(roomId, minSeq);
      users.learn(d.members);
      void presence.fetch(d.members.map((m) => m.userId)).catch(() => undefined);
    } catch {
      // A room the user may not read (any more): the room view says so.
    }
  };

  return {
    /** Loads a room with its members (and their presence); a room the user may not read is left out. */
    loadDetail,
    async createRoom(args: {
      name: string;
      kind: "public" | "private";
      topic?: string;
      members?: string[];
    }): Promise<string> {
      const body: CommandBody<"room.create"> = { name: args.name, kind: args.kind };
      if (args.topic !== undefined && args.topic.trim() !== "") body.topic = args.topic.trim();
      if (args.members !== undefined && args.members.length > 0) body.members = args.members;
      const { result, seq } = await run("room.create", body);
      await rooms.refresh(seq);
      await loadDetail(result.roomId, seq);
      return result.roomId;
    },
    /** Opens the DM with a user, creating it when there is none. */
    async startDm(userId: string): Promise<string> {
      const existing = rooms.state.mine.find((r) => r.kind === "dm" && names.dmPartner(r.roomId) === userId);
      if (existing !== undefined) return existing.roomId;
      const name = `${users.nameOf(me)} & ${users.nameOf(userId)}`.slice(0, 80);
      const { result, seq } = await run("room.create", { name, kind: "dm", members: [userId] });
      await rooms.refresh(seq);
      await loadDetail(result.roomId, seq);
      return result.roomId;
    },
    async join(roomId: string): Promise<void> {
      const { seq } = await run("room.join", { roomId }, { admin: can.isAdmin && names.kindOf(roomId) === "private" });
      rooms.dismissInvitation(roomId);
      await rooms.refresh(seq);
      await loadDetail(roomId, seq);
    },
    async leave(roomId: string): Promise<void> {
      const { seq } = await run("room.leave", { roomId });
      await rooms.refresh(seq);
    },
    rename: (roomId: string, name: string) =>
      run("room.rename", { roomId, name }, { admin: can.asAdmin(roomId, "moderator") }),
    setTopic: (roomId: string, topic: string) =>
      run("room.topic", { roomId, topic }, { admin: can.asAdmin(roomId, "moderator") }),
    invite: (roomId: string, userId: string) => run("room.invite", { roomId, userId }),
    remove: (roomId: string, userId: string, reason?: string) =>
      run(
        "room.remove",
        { roomId, userId, ...(reason ? { reason } : {}) },
        { admin: can.asAdmin(roomId, "moderator") },
      ),
    ban: (roomId: string, userId: string, reason?: string) =>
      run("room.ban", { roomId, userId, ...(reason ? { reason } : {}) }, { admin: can.asAdmin(roomId, "moderator") }),
    unban: (roomId: string, userId: string) =>
      run("room.unban", { roomId, userId }, { admin: can.asAdmin(roomId, "moderator") }),
    setRole: (roomId: string, userId: string, role: RoomRole) =>
      run("room.role", { roomId, userId, role }, { admin: can.asAdmin(roomId, "owner") }),
    archive: (roomId: string) => run("room.archive", { roomId }, { admin: can.asAdmin(roomId, "owner") }),
  };
}

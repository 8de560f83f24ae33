import type { RoomRole } from "../../../domain/index.ts";
import type { Rooms } from "./rooms.ts";

/** Why the composer is disabled, or null when the user may post. */
export type PostBlock = { reason: string; canJoin: boolean } | null;

const roleRank = (r: RoomRole | null): number => (r === "owner" ? 3 : r === "moderator" ? 2 : r === "member" ? 1 : 0);

/** What the user may do in a room: by their realm roles and their role in the room. */
export function createPermissions(deps: { rooms: Rooms; roles: readonly string[] }) {
  const { rooms } = deps;
  const isAdmin = deps.roles.includes("admin");
  const hasRealmRole = isAdmin || deps.roles.includes("user");

  return {
    isAdmin,
    hasRealmRole,
    /** Acts with the admin privilege when the room role alone would not allow it. */
    asAdmin: (roomId: string, needs: RoomRole): boolean => isAdmin && roleRank(rooms.roleIn(roomId)) < roleRank(needs),
    /** Why the user cannot post in a room, or null. */
    postBlock(roomId: string): PostBlock {
      if (!hasRealmRole) return { reason: "You cannot post here", canJoin: false };
      const mine = rooms.mine(roomId);
      const archived = mine?.archived ?? rooms.state.details[roomId]?.archived ?? false;
      if (archived) return { reason: "This room is archived", canJoin: false };
      if (mine === undefined) {
        const kind = rooms.state.details[roomId]?.kind;
        return kind === "public"
          ? { reason: "Join to post", canJoin: true }
          : { reason: "You cannot post here", canJoin: false };
      }
      return null;
    },
    /** Whether the user may moderate a room (delete others' messages, manage members). */
    canModerate: (roomId: string): boolean => isAdmin || roleRank(rooms.roleIn(roomId)) >= 2,
    /** Whether the user owns a room (or is an admin): roles and archiving. */
    canOwn: (roomId: string): boolean => isAdmin || rooms.roleIn(roomId) === "owner",
  };
}

export type Permissions = ReturnType<typeof createPermissions>;

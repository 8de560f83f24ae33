import type { Privilege } from "./metadata.ts";

/** A member's role inside one room, kept in the room's events. */
export const ROOM_ROLES = ["owner", "moderator", "member"] as const;
export type RoomRole = (typeof ROOM_ROLES)[number];

const RANK: Record<RoomRole, number> = { owner: 3, moderator: 2, member: 1 };

/** The rank of a room role (owner 3, moderator 2, member 1; 0 for a non-member). */
export function rankOf(role: RoomRole | undefined): number {
  return role === undefined ? 0 : RANK[role];
}

/** True for realm privileges that may change anything at all (everything but a profile needs `user`). */
export function canAct(privilege: Privilege): boolean {
  return privilege === "admin" || privilege === "user";
}

/** True when `privilege` moderates every room (the realm `admin` role, used through `admincmd.`). */
export function isAdmin(privilege: Privilege): boolean {
  return privilege === "admin";
}

/** True when the acting member moderates this room: owner, moderator, or a realm admin. */
export function moderates(privilege: Privilege, role: RoomRole | undefined): boolean {
  return isAdmin(privilege) || rankOf(role) >= RANK.moderator;
}

/**
 * True when an actor may act on a target member (remove, ban, change role): admins on anyone,
 * moderators and owners on members ranked strictly below them, owners on other owners too.
 */
export function outranks(
  privilege: Privilege,
  actorRole: RoomRole | undefined,
  targetRole: RoomRole | undefined,
): boolean {
  if (isAdmin(privilege)) return true;
  const a = rankOf(actorRole);
  if (a < RANK.moderator) return false;
  return a === RANK.owner ? true : a > rankOf(targetRole);
}

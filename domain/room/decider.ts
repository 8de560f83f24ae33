import { cleanName, type Decider, assertNever } from "../decider.ts";
import { ConflictError, ForbiddenError, InvalidError, NotFoundError } from "../errors.ts";
import type { RoomId, UserId } from "../ids.ts";
import { canAct, isAdmin, moderates, outranks, type RoomRole } from "../policy.ts";
import type { RoomCommand } from "./commands.ts";
import type { RoomEvent } from "./events.ts";
import { initialRoomState, ownerCount, roomHiddenFrom, type RoomState } from "./state.ts";

/** Folds one room event into the state (in place; see RoomState). */
export function evolveRoom(state: RoomState, event: RoomEvent): RoomState {
  switch (event.type) {
    case "RoomCreated":
      state.exists = true;
      state.roomId = event.data.roomId;
      state.name = event.data.name;
      state.kind = event.data.kind;
      state.topic = event.data.topic;
      for (const m of event.data.members) state.members.set(m.userId, m.role);
      return state;
    case "RoomRenamed":
      state.name = event.data.name;
      return state;
    case "RoomTopicChanged":
      state.topic = event.data.topic;
      return state;
    case "MemberJoined":
      state.members.set(event.data.userId, event.data.role ?? "member");
      state.invited.delete(event.data.userId);
      return state;
    case "MemberInvited":
      state.invited.add(event.data.userId);
      return state;
    case "MemberLeft":
    case "MemberRemoved":
      state.members.delete(event.data.userId);
      state.invited.delete(event.data.userId);
      return state;
    case "MemberBanned":
      state.members.delete(event.data.userId);
      state.invited.delete(event.data.userId);
      state.banned.add(event.data.userId);
      return state;
    case "MemberUnbanned":
      state.banned.delete(event.data.userId);
      return state;
    case "MemberRoleChanged":
      if (state.members.has(event.data.userId)) state.members.set(event.data.userId, event.data.role);
      return state;
    case "RoomArchived":
      state.archived = true;
      return state;
    default:
      return assertNever(event);
  }
}

function requireRoom(state: RoomState, roomId: RoomId, command: RoomCommand): void {
  if (!state.exists || roomHiddenFrom(state, command.meta.actor, command.meta.privilege))
    throw new NotFoundError(`room ${roomId} does not exist`, { details: { roomId } });
}

/** Refuses any change to an archived room. */
function requireOpen(state: RoomState): void {
  if (state.archived) throw new ForbiddenError("the room is archived", { details: { roomId: state.roomId } });
}

function requireNotDm(state: RoomState, what: string): void {
  if (state.kind === "dm")
    throw new ForbiddenError(`a direct message has exactly its two members: ${what} is not possible`);
}

function requireModerator(state: RoomState, command: RoomCommand, what: string): void {
  const role = state.members.get(command.meta.actor);
  if (!moderates(command.meta.privilege, role)) {
    throw new ForbiddenError(`only the room's moderators and owners may ${what}`);
  }
}

function requireOutranks(state: RoomState, command: RoomCommand, target: UserId, what: string): void {
  const actorRole = state.members.get(command.meta.actor);
  if (!outranks(command.meta.privilege, actorRole, state.members.get(target))) {
    throw new ForbiddenError(`you may not ${what} a member of equal or higher room role`, {
      details: { userId: target },
    });
  }
}

/** Refuses to leave a room without an owner; `leave` allows it when the owner is its only member. */
function requireNotLastOwner(state: RoomState, userId: UserId, what: string, allowAlone = false): void {
  if (allowAlone && state.members.size === 1) return;
  if (state.members.get(userId) === "owner" && ownerCount(state) === 1) {
    throw new ConflictError(`the room's last owner cannot ${what}: make another member owner first`, {
      details: { userId },
    });
  }
}

/**
 * Decides a room command. Rules: a DM has exactly its two members and no one joins, leaves or is
 * added; a private room is joined only by invitation (or by an admin); a banned user cannot join
 * or be invited until unbanned; moderators and owners rename, set the topic, remove, ban and
 * unban; owners (and admins) change roles and archive; the last owner cannot leave or be demoted
 * while others remain. Joining twice, inviting a member and the like are no-ops.
 */
export function decideRoom(command: RoomCommand, state: RoomState): RoomEvent[] {
  const { actor, privilege } = command.meta;
  if (!canAct(privilege))
    throw new ForbiddenError("a role is needed to change rooms: ask an administrator for the user role");
  const roomId = state.roomId ?? ("roomId" in command.data ? command.data.roomId : undefined);

  if (command.type === "create") {
    if (state.exists)
      throw new ConflictError(`room ${state.roomId} exists already`, { details: { roomId: state.roomId } });
    const data = command.data;
    const id = data.roomId ?? (command.meta.commandId as string as RoomId);
    const others = [...new Set(data.members ?? [])].filter((u) => u !== actor);
    if (data.kind === "dm") {
      if (others.length !== 1) {
        throw new InvalidError("a direct message needs exactly one other member", {
          details: { members: data.members ?? [] },
        });
      }
      const members = [actor, others[0]!].map((userId) => ({ userId, role: "member" as RoomRole }));
      return [
        {
          type: "RoomCreated",
          data: {
            roomId: id,
            name: cleanName(data.name),
            kind: "dm",
            topic: data.topic ?? "",
            createdBy: actor,
            members,
          },
        },
      ];
    }
    const members = [
      { userId: actor, role: "owner" as RoomRole },
      ...others.map((userId) => ({ userId, role: "member" as RoomRole })),
    ];
    return [
      {
        type: "RoomCreated",
        data: {
          roomId: id,
          name: cleanName(data.name),
          kind: data.kind,
          topic: data.topic ?? "",
          createdBy: actor,
          members,
        },
      },
    ];
  }

  requireRoom(state, command.data.roomId, command);
  const rid = roomId as RoomId;
  const actorRole = state.members.get(actor);

  switch (command.type) {
    case "join": {
      if (state.members.has(actor)) return [];
      requireOpen(state);
      requireNotDm(state, "joining");
      if (state.banned.has(actor)) throw new ForbiddenError("you are banned from this room");
      if (state.kind === "private" && !state.invited.has(actor) && !isAdmin(privilege)) {
        throw new ForbiddenError("this room is private: it is joined by invitation only");
      }
      // A room its last owner left empty is taken over by whoever joins it first.
      if (state.members.size === 0)
        return [{ type: "MemberJoined", data: { roomId: rid, userId: actor, role: "owner" } }];
      return [{ type: "MemberJoined", data: { roomId: rid, userId: actor } }];
    }
    case "leave": {
      if (!state.members.has(actor)) return [];
      requireNotDm(state, "leaving");
      requireNotLastOwner(state, actor, "leave", true);
      return [{ type: "MemberLeft", data: { roomId: rid, userId: actor } }];
    }
    case "invite": {
      requireOpen(state);
      requireNotDm(state, "inviting");
      const target = command.data.userId;
      if (actorRole === undefined && !isAdmin(privilege)) throw new ForbiddenError("only members invite to a room");
      if (state.banned.has(target))
        throw new ForbiddenError("this user is banned from the room: unban them first", {
          details: { userId: target },
        });
      if (state.members.has(target) || state.invited.has(target)) return [];
      return [
        { type: "MemberInvited", data: { roomId: rid, userId: target, invitedBy: actor, reason: command.data.reason } },
      ];
    }
    case "remove": {
      requireOpen(state);
      requireNotDm(state, "removing a member");
      requireModerator(state, command, "remove members");
      const target = command.data.userId;
      if (!state.members.has(target)) {
        if (state.invited.has(target))
          return [
            {
              type: "MemberRemoved",
              data: { roomId: rid, userId: target, removedBy: actor, reason: command.data.reason },
            },
          ];
        throw new NotFoundError(`${target} is not a member of this room`, { details: { userId: target } });
      }
      if (target !== actor) requireOutranks(state, command, target, "remove");
      requireNotLastOwner(state, target, "be removed");
      return [
        { type: "MemberRemoved", data: { roomId: rid, userId: target, removedBy: actor, reason: command.data.reason } },
      ];
    }
    case "ban": {
      requireOpen(state);
      requireNotDm(state, "banning");
      requireModerator(state, command, "ban");
      const target = command.data.userId;
      if (target === actor) throw new InvalidError("you cannot ban yourself");
      if (state.banned.has(target)) return [];
      requireOutranks(state, command, target, "ban");
      requireNotLastOwner(state, target, "be banned");
      return [
        { type: "MemberBanned", data: { roomId: rid, userId: target, bannedBy: actor, reason: command.data.reason } },
      ];
    }
    case "unban": {
      requireOpen(state);
      requireModerator(state, command, "unban");
      const target = command.data.userId;
      if (!state.banned.has(target)) return [];
      return [
        {
          type: "MemberUnbanned",
          data: { roomId: rid, userId: target, unbannedBy: actor, reason: command.data.reason },
        },
      ];
    }
    case "rename": {
      requireOpen(state);
      requireNotDm(state, "renaming");
      requireModerator(state, command, "rename the room");
      const name = cleanName(command.data.name);
      if (name === state.name) return [];
      return [{ type: "RoomRenamed", data: { roomId: rid, name, previousName: state.name } }];
    }
    case "topic": {
      requireOpen(state);
      if (state.kind === "dm") {
        if (actorRole === undefined) throw new ForbiddenError("only the two members set a direct message's topic");
      } else {
        requireModerator(state, command, "set the topic");
      }
      if (command.data.topic === state.topic) return [];
      return [
        { type: "RoomTopicChanged", data: { roomId: rid, topic: command.data.topic, previousTopic: state.topic } },
      ];
    }
    case "role": {
      requireOpen(state);
      requireNotDm(state, "changing room roles");
      if (actorRole !== "owner" && !isAdmin(privilege))
        throw new ForbiddenError("only the room's owners change room roles");
      const target = command.data.userId;
      const previousRole = state.members.get(target);
      if (previousRole === undefined)
        throw new NotFoundError(`${target} is not a member of this room`, { details: { userId: target } });
      if (previousRole === command.data.role) return [];
      if (previousRole === "owner") requireNotLastOwner(state, target, "be demoted");
      return [
        {
          type: "MemberRoleChanged",
          data: { roomId: rid, userId: target, role: command.data.role, previousRole, changedBy: actor },
        },
      ];
    }
    case "archive": {
      if (state.archived) return [];
      requireNotDm(state, "archiving");
      if (actorRole !== "owner" && !isAdmin(privilege)) throw new ForbiddenError("only the room's owners archive it");
      return [{ type: "RoomArchived", data: { roomId: rid, archivedBy: actor } }];
    }
    default:
      return assertNever(command);
  }
}

/** The room aggregate: one room, its members and their room roles. */
export const roomDecider: Decider<RoomCommand, RoomEvent, RoomState> = {
  initialState: initialRoomState,
  evolve: evolveRoom,
  decide: (command, state) => decideRoom(command, state),
};

import { assertNever, type Decider } from "../decider.ts";
import { ConflictError, ForbiddenError, InvalidError, NotFoundError } from "../errors.ts";
import type { MessageId, UserId } from "../ids.ts";
import { canAct, isAdmin, moderates } from "../policy.ts";
import { roomHiddenFrom, type RoomState } from "../room/state.ts";
import type { MessageCommand } from "./commands.ts";
import type { MessageEvent } from "./events.ts";
import { initialMessageState, type MessageState } from "./state.ts";

/** What a message decision needs besides the message: its room, and a reply's thread root. */
export type MessageContext = {
  readonly room: RoomState;
  /** The root message, for a `post` with `threadRootId`. */
  readonly threadRoot?: MessageState;
};

/** Folds one message event into the state (in place). */
export function evolveMessage(state: MessageState, event: MessageEvent): MessageState {
  switch (event.type) {
    case "MessagePosted":
      state.exists = true;
      state.roomId = event.data.roomId;
      state.messageId = event.data.messageId;
      state.authorId = event.data.authorId;
      state.body = event.data.body;
      state.threadRootId = event.data.threadRootId ?? null;
      return state;
    case "MessageEdited":
      state.body = event.data.body;
      return state;
    case "MessageDeleted":
      state.deleted = true;
      state.body = "";
      state.reactions.clear();
      return state;
    case "ReactionAdded": {
      const users = state.reactions.get(event.data.emoji) ?? new Set();
      users.add(event.data.userId);
      state.reactions.set(event.data.emoji, users);
      return state;
    }
    case "ReactionRemoved": {
      const users = state.reactions.get(event.data.emoji);
      users?.delete(event.data.userId);
      if (users?.size === 0) state.reactions.delete(event.data.emoji);
      return state;
    }
    case "MessageTranslated":
      return state;
    default:
      return assertNever(event);
  }
}

/** The room must exist and count the actor as a member (callers check that it is open where that matters). */
function requireMembership(command: MessageCommand, room: RoomState): void {
  if (!room.exists || roomHiddenFrom(room, command.meta.actor, command.meta.privilege)) {
    throw new NotFoundError(`room ${command.data.roomId} does not exist`, { details: { roomId: command.data.roomId } });
  }
  if (!room.members.has(command.meta.actor)) {
    throw new ForbiddenError("only the room's members may do this: join the room first", {
      details: { roomId: command.data.roomId },
    });
  }
}

function requireOpen(room: RoomState): void {
  if (room.archived) throw new ForbiddenError("the room is archived", { details: { roomId: room.roomId } });
}

function requireMessage(command: MessageCommand, state: MessageState): void {
  if (!state.exists || state.roomId !== command.data.roomId) {
    throw new NotFoundError(
      `message ${"messageId" in command.data ? command.data.messageId : ""} does not exist in this room`,
      {
        details: {
          roomId: command.data.roomId,
          messageId: "messageId" in command.data ? command.data.messageId : undefined,
        },
      },
    );
  }
}

/** The mentions of a post: unique, without the author. */
function mentionsOf(command: Extract<MessageCommand, { type: "post" }>): UserId[] {
  return [...new Set(command.data.mentions ?? [])].filter((u) => u !== command.meta.actor);
}

/**
 * Decides a message command. Only members post, react and edit, and only in a room that is not
 * archived; authors edit their own messages; authors, the room's moderators and owners, and
 * admins delete; a thread reply's root is a message of the same room that is not itself a reply
 * and not deleted. Reacting twice with one emoji, removing an absent reaction, deleting twice and
 * an edit to the same body are no-ops.
 */
export function decideMessage(command: MessageCommand, state: MessageState, context: MessageContext): MessageEvent[] {
  const { actor, privilege } = command.meta;
  if (!canAct(privilege)) throw new ForbiddenError("a role is needed to post: ask an administrator for the user role");
  const room = context.room;
  const roomId = command.data.roomId;

  switch (command.type) {
    case "post": {
      if (state.exists) {
        throw new ConflictError(`message ${state.messageId} exists already: choose another messageId`, {
          details: { messageId: state.messageId },
        });
      }
      requireMembership(command, room);
      requireOpen(room);
      const messageId = command.data.messageId ?? (command.meta.commandId as string as MessageId);
      const threadRootId = command.data.threadRootId;
      if (threadRootId !== undefined) {
        const root = context.threadRoot;
        if (root === undefined || !root.exists || root.roomId !== roomId) {
          throw new NotFoundError(`thread root ${threadRootId} does not exist in this room`, {
            details: { threadRootId },
          });
        }
        if (root.threadRootId !== null)
          throw new InvalidError("a thread reply cannot start a thread of its own: reply to the root", {
            details: { threadRootId },
          });
        if (root.deleted) throw new InvalidError("the thread's root message is deleted", { details: { threadRootId } });
        if (threadRootId === messageId) throw new InvalidError("a message cannot reply to itself");
      }
      const data = { roomId, messageId, authorId: actor, body: command.data.body, mentions: mentionsOf(command) };
      return [{ type: "MessagePosted", data: threadRootId === undefined ? data : { ...data, threadRootId } }];
    }
    case "edit": {
      requireMembership(command, room);
      requireOpen(room);
      requireMessage(command, state);
      if (state.authorId !== actor) throw new ForbiddenError("only the author edits a message");
      if (state.deleted) throw new InvalidError("a deleted message cannot be edited");
      if (state.body === command.data.body) return [];
      return [
        {
          type: "MessageEdited",
          data: {
            roomId,
            messageId: command.data.messageId,
            body: command.data.body,
            previousBody: state.body,
            editedBy: actor,
          },
        },
      ];
    }
    case "delete": {
      const isAuthor = state.exists && state.authorId === actor;
      // An author who left a private room may still delete what they wrote there.
      if (!room.exists || (!isAuthor && roomHiddenFrom(room, actor, privilege)))
        throw new NotFoundError(`room ${roomId} does not exist`, { details: { roomId } });
      if (!isAuthor && !isAdmin(privilege)) requireMembership(command, room);
      requireMessage(command, state);
      if (!isAuthor && !moderates(privilege, room.members.get(actor))) {
        throw new ForbiddenError("only the author, the room's moderators and owners, and admins delete a message");
      }
      if (state.deleted) return [];
      return [
        {
          type: "MessageDeleted",
          data: { roomId, messageId: command.data.messageId, deletedBy: actor, reason: command.data.reason },
        },
      ];
    }
    case "react":
    case "unreact": {
      requireMembership(command, room);
      requireOpen(room);
      requireMessage(command, state);
      if (state.deleted) throw new InvalidError("a deleted message takes no reactions");
      const has = state.reactions.get(command.data.emoji)?.has(actor) ?? false;
      const data = { roomId, messageId: command.data.messageId, emoji: command.data.emoji, userId: actor };
      if (command.type === "react") return has ? [] : [{ type: "ReactionAdded", data }];
      return has ? [{ type: "ReactionRemoved", data }] : [];
    }
    default:
      return assertNever(command);
  }
}

/** The message aggregate: one message with its edits, deletion and reactions. */
export const messageDecider: Decider<MessageCommand, MessageEvent, MessageState, MessageContext> = {
  initialState: initialMessageState,
  evolve: evolveMessage,
  decide: decideMessage,
};

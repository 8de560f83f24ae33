import { createContext, createEffect, on, useContext } from "solid-js";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Identity } from "../auth.ts";
import type { WebConfig } from "../config.ts";
import type { Connection } from "../connection.ts";
import { createLive, type Live } from "../live.ts";
import type { Server } from "../server.ts";
import { createMessageAnnouncer } from "./announcements.ts";
import { createMessages } from "./messages.ts";
import { createPermissions } from "./permissions.ts";
import { createPresence } from "./presence.ts";
import { createProfile } from "./profile.ts";
import { createRoomActions, createRoomNames } from "./roomActions.ts";
import { createRooms } from "./rooms.ts";
import type { Router } from "./route.ts";
import type { Preferences } from "./session.ts";
import { createCommandRunner, createToasts } from "./toasts.ts";
import { createTyping } from "./typing.ts";
import { createUsers } from "./users.ts";

export type { PostBlock } from "./permissions.ts";
export type { Toast } from "./toasts.ts";

/** What the chat is made of; tests give their own live. */
export type ChatSetup = {
  config: WebConfig;
  identity: Identity;
  server: Server;
  connection: Connection;
  prefs: Preferences;
  router: Router;
  /** Ends the session (at the identity provider). */
  signOut: () => Promise<void>;
  live?: Live;
};

/**
 * The signed-in client: the stores (rooms, messages, presence, typing, users, toasts) and their
 * actions, wired to live delivery (every event to every store, each dropping what it already has)
 * and caught up after every (re)connect.
 */
export function createChat(setup: ChatSetup) {
  const { server, identity, connection, prefs, router } = setup;
  const me = identity.userId;
  let stopped = false;

  const { toasts, toast } = createToasts();
  const run = createCommandRunner(server, toast);
  const users = createUsers({
    me,
    myName: identity.username,
    names: async (ids, minSeq) => (await server.usersByIds(ids, minSeq)).users,
    seenSeq: () => liveSeq,
  });
  const rooms = createRooms({
    server,
    me,
    onNoLongerMember: (roomId) => {
      if (openRoomId() === roomId) toast("You are no longer a member of this room.");
      syncWatches();
    },
    onRefreshed: () => {
      syncWatches();
      // DMs are shown by the other member's name: their members are needed.
      for (const r of rooms.state.mine)
        if (r.kind === "dm" && rooms.state.details[r.roomId] === undefined) void loadDetail(r.roomId);
    },
  });
  const presence = createPresence({
    server,
    me,
    heartbeatMs: setup.config.presenceHeartbeatMs,
    chosen: prefs.status(),
  });
  const typing = createTyping({ server, me });
  const can = createPermissions({ rooms, roles: identity.roles });
  const names = createRoomNames({ rooms, users, me });
  const { loadDetail, ...roomActions } = createRoomActions({ rooms, users, presence, me, names, can, run });
  const {
    applyLive: applyToMessages,
    catchUp: catchUpMessages,
    ...messages
  } = createMessages({
    server,
    me,
    rooms,
    users,
    can,
    run,
    toast,
    seenLive: () => liveSeq,
    loadDetail,
    syncWatches: () => syncWatches(),
  });
  const profile = createProfile({ prefs, presence, run });

  function openRoomId(): string | null {
    const r = router.route();
    return r.view === "room" ? r.roomId : null;
  }
  const { announcement, announceMessage } = createMessageAnnouncer({ me, users, rooms, names, openRoomId });

  /** The newest sequence delivered live (see createTimeline's `seenLive`). */
  let liveSeq = 0;
  const onEvent = (e: LiveEvent): void => {
    liveSeq = Math.max(liveSeq, e.seq);
    presence.applyLive(e);
    typing.applyLive(e);
    users.applyLive(e);
    rooms.applyLive(e);
    applyToMessages(e);
    if (e.type === "MessagePosted" && e.roomId !== undefined) announceMessage(e);
  };

  const syncWatches = (): void => {
    const want = new Set(rooms.state.mine.filter((r) => r.kind === "public").map((r) => r.roomId));
    const open = openRoomId();
    if (open !== null && names.kindOf(open) === "public") want.add(open);
    for (const id of live.watching()) if (!want.has(id)) live.unwatch(id);
    for (const id of want) live.watch(id);
  };

  const onResume = async (): Promise<void> => {
    presence.start();
    await rooms.refresh();
    catchUpMessages();
    void presence.fetch(users.known()).catch(() => undefined);
    users.resume();
  };

  const live = setup.live ?? createLive({ connection, userId: me, onEvent, onResume: () => void onResume() });
  // A public room read without being a member is listened to while it is open.
  createEffect(on(router.route, () => syncWatches(), { defer: true }));

  const chat = {
    me,
    identity,
    isAdmin: can.isAdmin,
    hasRealmRole: can.hasRealmRole,
    config: setup.config,
    server,
    connection,
    prefs,
    router,
    users,
    rooms,
    presence,
    typing,
    live,
    announcement,
    toasts,
    toast,
    dmPartner: names.dmPartner,
    roomName: names.roomName,
    postBlock: can.postBlock,
    canModerate: can.canModerate,
    canOwn: can.canOwn,
    ...roomActions,
    ...messages,
    ...profile,
    /** Stops live delivery and presence (the page goes, or the user signs out); once. */
    stop(): void {
      if (stopped) return;
      stopped = true;
      presence.stop();
      live.stop();
    },
    /** Says goodbye and signs out. */
    async signOut(): Promise<void> {
      chat.stop();
      await setup.signOut();
    },
    /** Applies one live event to every store (what live delivery calls; tests call it). */
    handle: onEvent,
    /** Catches up after a (re)connect (what live delivery calls; tests call it). */
    resume: onResume,
  };
  return chat;
}

export type Chat = ReturnType<typeof createChat>;

/** The signed-in chat, for the screens. */
export const ChatContext = createContext<Chat>();

/** The chat of the enclosing `ChatContext.Provider`. */
export function useChat(): Chat {
  const chat = useContext(ChatContext);
  if (chat === undefined) throw new Error("useChat outside ChatContext.Provider");
  return chat;
}

import { createContext, createEffect, createSignal, on, useContext } from "solid-js";
import { createStore, produce } from "solid-js/store";
import type { LiveEvent, RoomKind, RoomRole } from "../../../domain/index.ts";
import type { Identity } from "../auth.ts";
import type { WebConfig } from "../config.ts";
import type { Connection } from "../connection.ts";
import { createLive, type Live } from "../live.ts";
import { createAnnouncer } from "../announcer.ts";
import { ServerError, type CommandBody, type CommandName, type Server } from "../server.ts";
import { mentionsOf, threadRootOf } from "./messageEvents.ts";
import { createPresence } from "./presence.ts";
import { createRooms } from "./rooms.ts";
import type { Router } from "./route.ts";
import type { Preferences } from "./session.ts";
import { createThread, type Thread } from "./thread.ts";
import { createTimeline, type Timeline } from "./timeline.ts";
import { createTyping } from "./typing.ts";
import { createUsers } from "./users.ts";

/** Timelines kept in memory (and caught up after reconnects): the most recently opened rooms. */
const KEEP_TIMELINES = 8;

/** Why the composer is disabled, or null when the user may post. */
export type PostBlock = { reason: string; canJoin: boolean } | null;

/** A short message shown to the user for a while (an action that failed, a hint). */
export type Toast = { id: number; text: string };

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
 * The signed-in client: the stores (rooms, timelines, the open thread, presence, typing, users),
 * wired to live delivery (every event to every store, each dropping what it already has) and
 * caught up after every (re)connect, and the actions the screens call.
 */
export function createChat(setup: ChatSetup) {
  const { server, identity, connection, prefs, router } = setup;
  const me = identity.userId;
  const roles = identity.roles;
  const isAdmin = roles.includes("admin");
  const hasRealmRole = isAdmin || roles.includes("user");

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
      const r = router.route();
      if (r.view === "room" && r.roomId === roomId) toast("You are no longer a member of this room.");
      syncWatches();
    },
    onRefreshed: () => {
      syncWatches();
      // DMs are shown by the other member's name: their members are needed.
      for (const r of rooms.state.mine) if (r.kind === "dm" && rooms.state.details[r.roomId] === undefined) void loadDetail(r.roomId);
    },
  });
  const presence = createPresence({ server, me, heartbeatMs: setup.config.presenceHeartbeatMs, chosen: prefs.status() });
  const typing = createTyping({ server, me });
  const timelines = new Map<string, Timeline>();
  const [thread, setThread] = createSignal<Thread | null>(null);
  const [announcement, announce] = createAnnouncer();
  const [toasts, setToasts] = createStore<Toast[]>([]);
  let toastId = 0;
  let stopped = false;

  function toast(text: string): void {
    const id = ++toastId;
    setToasts(produce((t) => t.push({ id, text })));
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 6000);
  }

  const onSendFailed = (reason: string): void => toast(`Message not sent: ${reason}`);
  const openRoomId = (): string | null => {
    const r = router.route();
    return r.view === "room" ? r.roomId : null;
  };
  const kindOf = (roomId: string): RoomKind | undefined => rooms.mine(roomId)?.kind ?? rooms.state.details[roomId]?.kind;
  const roomLabel = (roomId: string): string => {
    const kind = kindOf(roomId);
    if (kind === "dm") return `a direct message with ${dmPartnerName(roomId)}`;
    const name = rooms.mine(roomId)?.name ?? rooms.state.details[roomId]?.name;
    return name === undefined ? "another room" : `#${name}`;
  };
  const dmPartner = (roomId: string): string | undefined => rooms.state.details[roomId]?.members.find((m) => m.userId !== me)?.userId;
  const dmPartnerName = (roomId: string): string => {
    const other = dmPartner(roomId);
    return other === undefined ? (rooms.mine(roomId)?.name ?? "someone") : users.nameOf(other);
  };

  /** The newest sequence delivered live (see createTimeline's `seenLive`). */
  let liveSeq = 0;
  const onEvent = (e: LiveEvent): void => {
    liveSeq = Math.max(liveSeq, e.seq);
    presence.applyLive(e);
    typing.applyLive(e);
    users.applyLive(e);
    rooms.applyLive(e);
    if (e.roomId !== undefined) timelines.get(e.roomId)?.applyLive(e);
    thread()?.applyLive(e);
    if (e.type === "MessagePosted" && e.roomId !== undefined) announceMessage(e);
  };

  /** Says new messages of others in rooms not open (the open room's timeline says its own). */
  const announced = new Set<number>();
  const announceMessage = (e: LiveEvent): void => {
    const author = typeof e.payload["authorId"] === "string" ? e.payload["authorId"] : e.actor;
    users.see(author);
    if (author === me || announced.has(e.seq) || e.roomId === openRoomId()) return;
    announced.add(e.seq);
    if (announced.size > 500) announced.clear();
    const who = users.nameOf(author);
    if (mentionsOf(e).includes(me)) announce(`${who} mentioned you in ${roomLabel(e.roomId!)}`);
    else if (threadRootOf(e) === null && rooms.mine(e.roomId!) !== undefined) announce(`New message from ${who} in ${roomLabel(e.roomId!)}`);
  };

  const syncWatches = (): void => {
    const want = new Set(rooms.state.mine.filter((r) => r.kind === "public").map((r) => r.roomId));
    const open = openRoomId();
    if (open !== null && kindOf(open) === "public") want.add(open);
    for (const id of live.watching()) if (!want.has(id)) live.unwatch(id);
    for (const id of want) live.watch(id);
  };

  const onResume = async (): Promise<void> => {
    presence.start();
    await rooms.refresh();
    for (const t of [...timelines.values()]) void t.catchUp().catch(() => undefined);
    void thread()?.load();
    void presence.fetch(users.known()).catch(() => undefined);
    users.resume();
  };

  const live = setup.live ?? createLive({ connection, userId: me, onEvent, onResume: () => void onResume() });
  // A public room read without being a member is listened to while it is open.
  createEffect(on(router.route, () => syncWatches(), { defer: true }));

  const loadDetail = async (roomId: string, minSeq?: number): Promise<void> => {
    try {
      const d = await rooms.loadDetail(roomId, minSeq);
      users.learn(d.members);
      void presence.fetch(d.members.map((m) => m.userId)).catch(() => undefined);
    } catch {
      // A room the user may not read (any more): the room view says so.
    }
  };

  const timelineOf = (roomId: string): Timeline => {
    let t = timelines.get(roomId);
    if (t !== undefined) {
      // Most recently used last.
      timelines.delete(roomId);
      timelines.set(roomId, t);
      return t;
    }
    t = createTimeline(roomId, { server, me, onSendFailed, seenLive: () => liveSeq });
    timelines.set(roomId, t);
    while (timelines.size > KEEP_TIMELINES) {
      const oldest = timelines.keys().next().value!;
      timelines.delete(oldest);
    }
    return t;
  };

  /** Sends a command; a refusal is shown as a toast and thrown on. */
  async function run<C extends CommandName>(name: C, body: CommandBody<C>, options: { admin?: boolean } = {}) {
    try {
      return await server.command(name, body, options);
    } catch (err) {
      toast(err instanceof ServerError ? err.message : `Something went wrong: ${String(err)}`);
      throw err;
    }
  }
  const roleRank = (r: RoomRole | null): number => (r === "owner" ? 3 : r === "moderator" ? 2 : r === "member" ? 1 : 0);
  /** Acts with the admin privilege when the room role alone would not allow it. */
  const asAdmin = (roomId: string, needs: RoomRole): boolean => isAdmin && roleRank(rooms.roleIn(roomId)) < roleRank(needs);

  const chat = {
    me,
    identity,
    isAdmin,
    hasRealmRole,
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
    thread,
    announcement,
    toasts,
    toast,
    dmPartner,
    /** A room's name as shown: a DM by the other member's name. */
    roomName: (roomId: string): string => (kindOf(roomId) === "dm" ? dmPartnerName(roomId) : (rooms.mine(roomId)?.name ?? rooms.state.details[roomId]?.name ?? "")),
    timeline: timelineOf,
    /** Opens a room: its members, its timeline (at a message when given), its live subject. */
    async openRoom(roomId: string, messageId?: string): Promise<void> {
      const t = timelineOf(roomId);
      if (rooms.state.details[roomId] === undefined) await loadDetail(roomId);
      syncWatches();
      if (messageId !== undefined) await t.loadAround(messageId);
      else if (t.state.status === "idle" || t.state.status === "error" || t.state.hasNewer) await t.loadLatest();
      for (const m of t.messages()) users.see(m.authorId);
    },
    /** Why the user cannot post in a room, or null. */
    postBlock(roomId: string): PostBlock {
      if (!hasRealmRole) return { reason: "You cannot post here", canJoin: false };
      const mine = rooms.mine(roomId);
      const archived = mine?.archived ?? rooms.state.details[roomId]?.archived ?? false;
      if (archived) return { reason: "This room is archived", canJoin: false };
      if (mine === undefined) {
        const kind = rooms.state.details[roomId]?.kind;
        return kind === "public" ? { reason: "Join to post", canJoin: true } : { reason: "You cannot post here", canJoin: false };
      }
      return null;
    },
    /** Whether the user may moderate a room (delete others' messages, manage members). */
    canModerate: (roomId: string): boolean => isAdmin || roleRank(rooms.roleIn(roomId)) >= 2,
    /** Whether the user owns a room (or is an admin): roles and archiving. */
    canOwn: (roomId: string): boolean => isAdmin || rooms.roleIn(roomId) === "owner",
    openThread(roomId: string, rootId: string): void {
      const cur = thread();
      if (cur !== null && cur.roomId === roomId && cur.rootId === rootId) return;
      const t = createThread(roomId, rootId, { server, me, onSendFailed });
      setThread(t);
      void t.load();
    },
    closeThread: (): void => {
      setThread(null);
    },
    /** Marks a room read up to a message seen on screen. */
    markRead: (roomId: string, seq: number): Promise<void> => rooms.markRead(roomId, seq),

    async createRoom(args: { name: string; kind: "public" | "private"; topic?: string; members?: string[] }): Promise<string> {
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
      const existing = rooms.state.mine.find((r) => r.kind === "dm" && dmPartner(r.roomId) === userId);
      if (existing !== undefined) return existing.roomId;
      const name = `${users.nameOf(me)} & ${users.nameOf(userId)}`.slice(0, 80);
      const { result, seq } = await run("room.create", { name, kind: "dm", members: [userId] });
      await rooms.refresh(seq);
      await loadDetail(result.roomId, seq);
      return result.roomId;
    },
    async join(roomId: string): Promise<void> {
      const { seq } = await run("room.join", { roomId }, { admin: isAdmin && kindOf(roomId) === "private" });
      rooms.dismissInvitation(roomId);
      await rooms.refresh(seq);
      await loadDetail(roomId, seq);
    },
    async leave(roomId: string): Promise<void> {
      const { seq } = await run("room.leave", { roomId });
      await rooms.refresh(seq);
    },
    rename: (roomId: string, name: string) => run("room.rename", { roomId, name }, { admin: asAdmin(roomId, "moderator") }),
    setTopic: (roomId: string, topic: string) => run("room.topic", { roomId, topic }, { admin: asAdmin(roomId, "moderator") }),
    invite: (roomId: string, userId: string) => run("room.invite", { roomId, userId }),
    remove: (roomId: string, userId: string, reason?: string) => run("room.remove", { roomId, userId, ...(reason ? { reason } : {}) }, { admin: asAdmin(roomId, "moderator") }),
    ban: (roomId: string, userId: string, reason?: string) => run("room.ban", { roomId, userId, ...(reason ? { reason } : {}) }, { admin: asAdmin(roomId, "moderator") }),
    unban: (roomId: string, userId: string) => run("room.unban", { roomId, userId }, { admin: asAdmin(roomId, "moderator") }),
    setRole: (roomId: string, userId: string, role: RoomRole) => run("room.role", { roomId, userId, role }, { admin: asAdmin(roomId, "owner") }),
    archive: (roomId: string) => run("room.archive", { roomId }, { admin: asAdmin(roomId, "owner") }),
    react: (roomId: string, messageId: string, emoji: string) => run("msg.react", { roomId, messageId, emoji }).then(() => undefined, () => undefined),
    unreact: (roomId: string, messageId: string, emoji: string) => run("msg.unreact", { roomId, messageId, emoji }).then(() => undefined, () => undefined),
    edit: (roomId: string, messageId: string, body: string) => run("msg.edit", { roomId, messageId, body }),
    /** Deletes a message: one's own as a member, another's as moderator (or admin). */
    deleteMessage(roomId: string, messageId: string, authorId: string) {
      const admin = authorId !== me && isAdmin && roleRank(rooms.roleIn(roomId)) < 2;
      return run("msg.delete", { roomId, messageId }, { admin });
    },
    /** Changes the user's language (their profile) and the page's. */
    async setLanguage(tag: string): Promise<void> {
      prefs.setLanguage(tag);
      await run("user.profile", { language: tag }).catch(() => undefined);
    },
    /** Changes the status the user announces. */
    setStatus(status: "online" | "away"): void {
      prefs.setStatus(status);
      presence.setChosen(status);
    },
    /** Sets the name the user chose, which everyone sees instead of the one their identity gives. */
    async setDisplayName(name: string): Promise<void> {
      await run("user.profile", { displayName: name });
    },
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

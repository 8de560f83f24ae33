import { createStore, produce, reconcile } from "solid-js/store";
import type { LiveEvent, RoomRole } from "../../../domain/index.ts";
import type { Output, Server } from "../server.ts";
import { coalesced } from "./coalesced.ts";
import { mentionsOf, threadRootOf } from "./messageEvents.ts";

/** One of the user's rooms, with unread and mention counts (`GET /api/rooms`). */
export type MyRoom = Output<"rooms">["rooms"][number];
/** A room of the public directory. */
export type PublicRoom = Output<"roomsPublic">["rooms"][number];
/** A room member; `displayName` when the read API gives one. */
export type Member = Omit<Output<"room">["room"]["members"][number], "displayName"> & { displayName?: string | null };
/** A room with its members (`GET /api/rooms/{id}`). */
export type RoomDetail = Omit<Output<"room">["room"], "members"> & { members: Member[] };
/** An open invitation: listed by the read API with the room's name, or heard live (its name fetched when it can be read). */
export type Invitation = { roomId: string; invitedBy: string; seq: number; name?: string };

type RoomsState = {
  mine: MyRoom[];
  status: "idle" | "loading" | "ready" | "error";
  error: string | null;
  directory: PublicRoom[];
  directoryStatus: "idle" | "loading" | "ready" | "error";
  details: Record<string, RoomDetail>;
  invitations: Invitation[];
};

/** What the rooms store needs of the server. */
export type RoomsServer = Pick<Server, "rooms" | "publicRooms" | "room" | "markRead">;

const ROOM_EVENTS = new Set([
  "RoomCreated",
  "RoomRenamed",
  "RoomTopicChanged",
  "RoomArchived",
  "MemberJoined",
  "MemberInvited",
  "MemberLeft",
  "MemberRemoved",
  "MemberBanned",
  "MemberUnbanned",
  "MemberRoleChanged",
]);

/**
 * The user's rooms (with unread and mention counts kept current by live posts), the public
 * directory, and the rooms opened so far with their members (kept current by member events).
 */
export function createRooms(deps: {
  server: RoomsServer;
  me: string;
  /** Called when a live event says the user is no longer a member of a room. */
  onNoLongerMember?: (roomId: string) => void;
  /** Called after each refresh of the user's rooms. */
  onRefreshed?: () => void;
}) {
  const me = deps.me;
  const [state, setState] = createStore<RoomsState>({
    mine: [],
    status: "idle",
    error: null,
    directory: [],
    directoryStatus: "idle",
    details: {},
    invitations: [],
  });
  /** Per room, the highest sequence already counted (posts at or below it are in the counts). */
  const counted = new Map<string, number>();
  let held: LiveEvent[] | null = null;

  const indexOf = (roomId: string): number => state.mine.findIndex((r) => r.roomId === roomId);
  const str = (v: unknown): string => (typeof v === "string" ? v : "");

  /** The highest sequence a refresh must reflect (a live event ahead of the read model). */
  let wantSeq = 0;
  const doRefresh = async (): Promise<void> => {
    held ??= [];
    if (state.status !== "ready") setState("status", "loading");
    const minSeq = wantSeq;
    try {
      const ans = await deps.server.rooms(minSeq > 0 ? minSeq : undefined);
      setState("mine", reconcile(ans.rooms, { key: "roomId", merge: false }));
      for (const r of ans.rooms) counted.set(r.roomId, Math.max(r.lastSeq, r.readSeq));
      setState({ status: "ready", error: null });
      // The read API's open invitations, and those heard live since (ahead of the read model).
      const listed = ans.invitations.map((i) => ({
        roomId: i.roomId,
        invitedBy: i.invitedBy,
        seq: i.seq,
        name: i.name,
      }));
      setState("invitations", (inv) =>
        [...listed, ...inv.filter((i) => i.seq > minSeq && !listed.some((l) => l.roomId === i.roomId))].filter(
          (i) => indexOf(i.roomId) < 0,
        ),
      );
      deps.onRefreshed?.();
    } catch (err) {
      setState({
        status: state.status === "ready" ? "ready" : "error",
        error: err instanceof Error ? err.message : String(err),
      });
    } finally {
      const events = held;
      held = null;
      for (const e of events ?? []) rooms.applyLive(e);
    }
  };

  const refreshNow = coalesced(doRefresh);

  const rooms = {
    state,
    /** The user's room with this id. */
    mine: (roomId: string): MyRoom | undefined => state.mine.find((r) => r.roomId === roomId),
    /** The user's role in a room, null when not a member. */
    roleIn: (roomId: string): RoomRole | null => rooms.mine(roomId)?.role ?? null,
    /**
     * Loads the user's rooms (again), reflecting at least `minSeq` (the live event that asked for
     * it: live delivery can be ahead of the read model); a refresh asked for while one runs runs
     * once more after it.
     */
    refresh(minSeq = 0): Promise<void> {
      wantSeq = Math.max(wantSeq, minSeq);
      return refreshNow();
    },
    /** Loads the public directory. */
    async loadDirectory(): Promise<void> {
      setState("directoryStatus", "loading");
      try {
        const ans = await deps.server.publicRooms();
        setState("directory", reconcile(ans.rooms, { key: "roomId" }));
        setState("directoryStatus", "ready");
      } catch {
        setState("directoryStatus", "error");
      }
    },
    /** Loads a room with its members; throws the server's error (not_found for a room the user may not read). */
    async loadDetail(roomId: string, minSeq?: number): Promise<RoomDetail> {
      const ans = await deps.server.room(roomId, minSeq);
      setState("details", roomId, reconcile(ans.room as RoomDetail, { key: "userId" }));
      return state.details[roomId]!;
    },
    /**
     * Moves the read marker to `seq` when it is ahead of it: the counts drop to nothing once the
     * room's last message is read. Never moves it back.
     */
    async markRead(roomId: string, seq: number): Promise<void> {
      const i = indexOf(roomId);
      if (i < 0 || !Number.isInteger(seq) || seq <= 0 || seq <= state.mine[i]!.readSeq) return;
      setState(
        "mine",
        i,
        produce((r) => {
          r.readSeq = seq;
          if (seq >= r.lastSeq) {
            r.unread = 0;
            r.mentions = 0;
          }
        }),
      );
      await deps.server.markRead(roomId, seq).catch(() => undefined);
    },
    /** Forgets an invitation (declined, or joined). */
    dismissInvitation(roomId: string): void {
      setState("invitations", (inv) => inv.filter((i) => i.roomId !== roomId));
    },
    /** Applies a live event: counts posts of others (and mentions), follows room and member changes. */
    applyLive(e: LiveEvent): void {
      const roomId = e.roomId;
      if (roomId === undefined) return;
      if (held !== null) {
        held.push(e);
        return;
      }
      if (e.type === "MessagePosted") {
        countPost(roomId, e);
        return;
      }
      if (!ROOM_EVENTS.has(e.type)) return;
      const p = e.payload;
      const who = str(p["userId"]);
      const i = indexOf(roomId);
      switch (e.type) {
        case "RoomCreated":
          void rooms.refresh(e.seq);
          break;
        case "RoomRenamed":
          if (i >= 0) setState("mine", i, "name", str(p["name"]));
          if (state.details[roomId] !== undefined) setState("details", roomId, "name", str(p["name"]));
          break;
        case "RoomTopicChanged":
          if (i >= 0) setState("mine", i, "topic", str(p["topic"]));
          if (state.details[roomId] !== undefined) setState("details", roomId, "topic", str(p["topic"]));
          break;
        case "RoomArchived":
          if (i >= 0) setState("mine", i, "archived", true);
          if (state.details[roomId] !== undefined) setState("details", roomId, "archived", true);
          break;
        case "MemberJoined": {
          const role = (p["role"] as RoomRole | undefined) ?? "member";
          setMember(roomId, { userId: who, role, joinedSeq: e.seq });
          if (who === me) {
            rooms.dismissInvitation(roomId);
            void rooms.refresh(e.seq);
          }
          break;
        }
        case "MemberRoleChanged": {
          const role = p["role"] as RoomRole;
          const d = state.details[roomId];
          const m = d?.members.findIndex((x) => x.userId === who) ?? -1;
          if (m >= 0) setState("details", roomId, "members", m, "role", role);
          if (who === me && i >= 0) setState("mine", i, "role", role);
          break;
        }
        case "MemberInvited":
          if (who === me && i < 0 && !state.invitations.some((x) => x.roomId === roomId)) {
            setState("invitations", (inv) => [...inv, { roomId, invitedBy: str(p["invitedBy"]), seq: e.seq }]);
            // The read API lists open invitations with their rooms' names.
            void rooms.refresh(e.seq);
          }
          break;
        case "MemberLeft":
        case "MemberRemoved":
        case "MemberBanned":
          if (state.details[roomId] !== undefined)
            setState("details", roomId, "members", (ms) => ms.filter((m) => m.userId !== who));
          if (who === me) {
            rooms.dismissInvitation(roomId);
            if (i >= 0) setState("mine", (rs) => rs.filter((r) => r.roomId !== roomId));
            deps.onNoLongerMember?.(roomId);
          }
          break;
        default:
          break;
      }
    },
  };

  function setMember(roomId: string, m: Member): void {
    const d = state.details[roomId];
    if (d === undefined) return;
    const at = d.members.findIndex((x) => x.userId === m.userId);
    if (at >= 0) setState("details", roomId, "members", at, "role", m.role);
    else setState("details", roomId, "members", d.members.length, m);
  }

  function countPost(roomId: string, e: LiveEvent): void {
    const i = indexOf(roomId);
    if (i < 0 || e.seq <= (counted.get(roomId) ?? 0)) return;
    counted.set(roomId, e.seq);
    const own = str(e.payload["authorId"]) === me;
    const topLevel = threadRootOf(e) === null;
    const mentioned = !own && mentionsOf(e).includes(me);
    setState(
      "mine",
      i,
      produce((r) => {
        if (topLevel) r.lastSeq = Math.max(r.lastSeq, e.seq);
        if (topLevel && !own) r.unread += 1;
        if (mentioned) r.mentions += 1;
      }),
    );
  }

  return rooms;
}

export type Rooms = ReturnType<typeof createRooms>;

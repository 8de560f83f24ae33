import type { KV } from "@nats-io/kv";
import type { BucketName, EventEnvelope } from "../../streams/index.ts";
import { putIfNewer } from "../kvWrite.ts";
import type { KvProjection } from "../projection.ts";

/** A membership shard's value; `role: null` is a tombstone (the member left), kept for its sequence. */
export type MembershipValue = { role: string | null; joinedSeq: number | null; seq: number };

const MEMBERS = "members" satisfies BucketName;
const USER_ROOMS = "user_rooms" satisfies BucketName;

type Change = { roomId: string; userId: string; value: MembershipValue };

/** The membership changes an event makes, with the role it had before where it matters. */
function changesOf(
  e: EventEnvelope,
  current: (roomId: string, userId: string) => MembershipValue | undefined,
): Change[] {
  const ev = e.event;
  switch (ev.type) {
    case "RoomCreated":
      return ev.data.members.map((m) => ({
        roomId: ev.data.roomId,
        userId: m.userId,
        value: { role: m.role, joinedSeq: e.seq, seq: e.seq },
      }));
    case "MemberJoined":
      return [
        {
          roomId: ev.data.roomId,
          userId: ev.data.userId,
          value: { role: ev.data.role ?? "member", joinedSeq: e.seq, seq: e.seq },
        },
      ];
    case "MemberRoleChanged": {
      const before = current(ev.data.roomId, ev.data.userId);
      if (before === undefined || before.role === null) return [];
      return [
        {
          roomId: ev.data.roomId,
          userId: ev.data.userId,
          value: { role: ev.data.role, joinedSeq: before.joinedSeq, seq: e.seq },
        },
      ];
    }
    case "MemberLeft":
    case "MemberRemoved":
    case "MemberBanned":
      return [{ roomId: ev.data.roomId, userId: ev.data.userId, value: { role: null, joinedSeq: null, seq: e.seq } }];
    default:
      return [];
  }
}

async function getValue(kv: KV, key: string): Promise<MembershipValue | undefined> {
  const e = await kv.get(key);
  return e === null || e.operation !== "PUT" ? undefined : e.json<MembershipValue>();
}

/**
 * Room membership shards in NATS KV: `members` keyed `<roomId>.<userId>` and its reverse index
 * `user_rooms` keyed `<userId>.<roomId>`, one key per membership so joins and leaves never
 * contend. Each value carries the sequence that set it; an older event never overwrites it.
 */
export const membersProjection: KvProjection = {
  kind: "kv",
  name: "members",
  version: 1,
  filterSubjects: ["ev.room.>"],
  buckets: [MEMBERS, USER_ROOMS],
  async apply(buckets, events) {
    const members = buckets[MEMBERS]!;
    const userRooms = buckets[USER_ROOMS]!;
    const seen = new Map<string, MembershipValue | undefined>();
    for (const e of events) {
      const wanted = changesOf(e, (roomId, userId) => seen.get(`${roomId}.${userId}`));
      // MemberRoleChanged needs the value before it: read what the batch has not seen yet.
      if (wanted.length === 0 && e.event.type === "MemberRoleChanged") {
        const k = `${e.event.data.roomId}.${e.event.data.userId}`;
        if (!seen.has(k)) seen.set(k, await getValue(members, k));
        wanted.push(...changesOf(e, (roomId, userId) => seen.get(`${roomId}.${userId}`)));
      }
      for (const c of wanted) {
        const mk = `${c.roomId}.${c.userId}`;
        // Each bucket on its own: a crash between the two writes leaves user_rooms behind members,
        // and the event applied again must still bring user_rooms up to date.
        const [now] = await Promise.all([
          putIfNewer(members, mk, c.value.seq, () => c.value),
          putIfNewer(userRooms, `${c.userId}.${c.roomId}`, c.value.seq, () => c.value),
        ]);
        seen.set(mk, now);
      }
    }
  },
  expected(events) {
    const state = new Map<string, MembershipValue>();
    for (const e of events) {
      for (const c of changesOf(e, (roomId, userId) => state.get(`${roomId}.${userId}`)))
        state.set(`${c.roomId}.${c.userId}`, c.value);
    }
    const members = new Map<string, string>();
    const userRooms = new Map<string, string>();
    for (const [k, v] of state) {
      const [roomId, userId] = k.split(".") as [string, string];
      members.set(k, JSON.stringify(v));
      userRooms.set(`${userId}.${roomId}`, JSON.stringify(v));
    }
    return new Map([
      [MEMBERS, members],
      [USER_ROOMS, userRooms],
    ]);
  },
};

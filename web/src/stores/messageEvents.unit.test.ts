import { describe, expect, test } from "vitest";
import type { LiveEvent } from "../../../domain/index.ts";
import type { Message } from "../../../read-api/schemas.ts";
import { applyReply, applyToMessage, messageFromPosted, react, threadRootOf } from "./messageEvents.ts";

const ROOM = "r1";
const at = (seq: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString();
const ev = (seq: number, type: string, messageId: string, payload: Record<string, unknown>): LiveEvent => ({
  seq,
  time: at(seq),
  type,
  actor: "u",
  roomId: ROOM,
  messageId,
  payload,
});

/** A deterministic pseudo-random sequence (the test needs no seed library). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * What a room's messages are after a history, folded from the whole list at once (the read
 * model's definition, as projections/timeline and test/roomCopy.ts apply it): each message as
 * posted, its last edit's body, emptied when deleted, its replies counted, and its reactions the
 * (emoji, user) pairs added and not removed since, grouped by emoji in order of their earliest
 * reaction. Web tests import no server code, so this is the reference here.
 */
function expected(events: readonly LiveEvent[]): Message[] {
  const out = new Map<string, Message>();
  for (const e of events) {
    const id = e.messageId!;
    const m = out.get(id);
    const p = e.payload;
    if (e.type === "MessagePosted") {
      const root = typeof p["threadRootId"] === "string" ? out.get(p["threadRootId"]) : undefined;
      out.set(id, {
        messageId: id,
        roomId: ROOM,
        seq: e.seq,
        authorId: String(p["authorId"]),
        body: String(p["body"]),
        postedAt: e.time,
        editedAt: null,
        deleted: false,
        reactions: [],
        threadRootId: root?.messageId ?? null,
        replyCount: 0,
        lastReplyAt: null,
        updatedSeq: e.seq,
      });
      if (root !== undefined)
        Object.assign(root, { replyCount: root.replyCount + 1, lastReplyAt: e.time, updatedSeq: e.seq });
    } else if (m !== undefined) {
      m.updatedSeq = e.seq;
      if (e.type === "MessageEdited") Object.assign(m, { body: p["body"], editedAt: e.time });
      if (e.type === "MessageDeleted") Object.assign(m, { body: "", deleted: true });
    }
  }
  for (const m of out.values()) {
    if (m.deleted) continue;
    const current = new Map<string, number>();
    for (const e of events) {
      if (e.messageId !== m.messageId || !e.type.startsWith("Reaction")) continue;
      const key = `${String(e.payload["emoji"])}\u0000${String(e.payload["userId"])}`;
      if (e.type === "ReactionAdded") current.set(key, e.seq);
      else current.delete(key);
    }
    const byEmoji = new Map<string, [string, number][]>();
    for (const [key, seq] of [...current].sort((a, b) => a[1] - b[1])) {
      const [emoji, user] = key.split("\u0000") as [string, string];
      byEmoji.set(emoji, [...(byEmoji.get(emoji) ?? []), [user, seq]]);
    }
    m.reactions = [...byEmoji].map(([emoji, us]) => ({
      emoji,
      count: us.length,
      userIds: us.map((u) => u[0]),
      seqs: us.map((u) => u[1]),
    }));
  }
  return [...out.values()].sort((a, b) => a.seq - b.seq);
}

/** Applies events as the client stores do: posts create, replies count on their root, the rest change their message. */
function clientApply(messages: Map<string, Message>, e: LiveEvent): void {
  if (e.type === "MessagePosted") {
    if (messages.has(e.messageId!)) return;
    messages.set(e.messageId!, messageFromPosted(e));
    const root = threadRootOf(e);
    const r = root === null ? undefined : messages.get(root);
    if (r !== undefined) applyReply(r, e);
    return;
  }
  const m = messages.get(e.messageId!);
  if (m !== undefined) applyToMessage(m, e);
}

describe("message events", () => {
  test("random histories, applied one event at a time and every event twice, end where the read model's definition says", () => {
    const users = ["ann", "bob", "cy"];
    const emojis = ["👍", "🎉", ":party:"];
    for (let run = 0; run < 50; run++) {
      const rand = rng(run + 1);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const events: LiveEvent[] = [];
      const ids: string[] = [];
      const deleted = new Set<string>();
      for (let seq = 1; seq <= 120; seq++) {
        const roll = rand();
        const live = ids.filter((id) => !deleted.has(id));
        if (roll < 0.25 || live.length === 0) {
          const id = `m${seq}`;
          const root = live.length > 0 && rand() < 0.3 ? pick(live) : undefined;
          events.push(
            ev(seq, "MessagePosted", id, {
              roomId: ROOM,
              messageId: id,
              authorId: pick(users),
              body: `b${seq}`,
              mentions: [],
              ...(root !== undefined ? { threadRootId: root } : {}),
            }),
          );
          ids.push(id);
        } else if (roll < 0.4) {
          events.push(ev(seq, "MessageEdited", pick(live), { body: `e${seq}`, previousBody: "?", editedBy: "u" }));
        } else if (roll < 0.45) {
          const id = pick(live);
          deleted.add(id);
          events.push(ev(seq, "MessageDeleted", id, { deletedBy: "u" }));
        } else {
          events.push(
            ev(seq, rand() < 0.65 ? "ReactionAdded" : "ReactionRemoved", pick(live), {
              emoji: pick(emojis),
              userId: pick(users),
            }),
          );
        }
      }
      const mine = new Map<string, Message>();
      for (const e of events) {
        clientApply(mine, e);
        clientApply(mine, e);
      }
      expect([...mine.values()].sort((a, b) => a.seq - b.seq)).toEqual(expected(events));
    }
  });

  test("react keeps users in reaction order and emojis in the order of their earliest reaction", () => {
    let r = react([], "👍", "ann", 1);
    r = react(r, "🎉", "bob", 2);
    r = react(r, "👍", "bob", 3);
    expect(r.map((x) => [x.emoji, x.userIds])).toEqual([
      ["👍", ["ann", "bob"]],
      ["🎉", ["bob"]],
    ]);
    r = react(r, "👍", "ann", null);
    expect(r.map((x) => [x.emoji, x.userIds, x.seqs])).toEqual([
      ["🎉", ["bob"], [2]],
      ["👍", ["bob"], [3]],
    ]);
    expect(react(r, "😮", "cy", null)).toEqual(r);
  });
});

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveSubjects, type LiveEvent } from "../domain/index.ts";
import { startReadHarness, type Actor, type ReadHarness } from "../test/readHarness.ts";
import { RoomCopy } from "../test/roomCopy.ts";

let h: ReadHarness;

beforeAll(async () => {
  h = await startReadHarness();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

/**
 * Bob's chat client for one room: on connect it subscribes first, then asks for the changes after
 * what it has, and applies the live events above the answer; events that arrive meanwhile wait.
 */
class Client {
  readonly copy: RoomCopy;
  private nc: NatsConnection | undefined;
  private sub: Subscription | undefined;
  private buffer: LiveEvent[] | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly bob: Actor,
    private readonly roomId: string,
    private readonly subject: string,
  ) {
    this.copy = new RoomCopy(roomId);
  }

  async connect(): Promise<void> {
    this.nc = await h.sys.user(this.bob.token, this.bob.id);
    this.buffer = [];
    this.sub = this.nc.subscribe(this.subject, {
      callback: (err, m) => {
        if (err) return;
        const e = m.json<LiveEvent>();
        if (this.buffer !== undefined) this.buffer.push(e);
        else this.copy.applyLive(e);
        for (const w of this.waiters.splice(0)) w();
      },
    });
    await this.nc.flush();
    const r = await this.nc.request(
      `q.${this.bob.id}.changes`,
      JSON.stringify({ roomId: this.roomId, after: this.copy.seenSeq, limit: 5000 }),
      { timeout: 10_000 },
    );
    const answer = r.json<{ ok: true; result: { messages: never[]; seq: number; more: boolean } }>();
    expect(answer.ok).toBe(true);
    expect(answer.result.more).toBe(false);
    this.copy.applySnapshot(answer.result.messages, answer.result.seq);
    for (const e of this.buffer.splice(0)) this.copy.applyLive(e);
    this.buffer = undefined;
  }

  /** Goes away without a word: the connection closes; what happens meanwhile is missed. */
  async drop(): Promise<void> {
    await this.nc?.close();
    this.nc = undefined;
  }

  get connected(): boolean {
    return this.nc !== undefined;
  }

  /** Resolves once the copy holds everything up to `seq`; fails after a while. */
  async reach(seq: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.copy.seenSeq < seq) {
      if (Date.now() > deadline) throw new Error(`the client saw up to ${this.copy.seenSeq}, not ${seq}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  }
}

type Step =
  | { kind: "post"; by: 0 | 1; reply: boolean }
  | { kind: "edit" | "delete" | "react" | "unreact"; by: 0 | 1; pick: number; emoji: number }
  | { kind: "drop" }
  | { kind: "reconnect" };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("post" as const),
      by: fc.constantFrom(0 as const, 1 as const),
      reply: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom("edit" as const, "delete" as const, "react" as const, "unreact" as const),
      by: fc.constantFrom(0 as const, 1 as const),
      pick: fc.nat(),
      emoji: fc.nat({ max: 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "drop" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "reconnect" as const }) },
);

describe("a client that was away comes back to exactly the server's room", () => {
  it("over random schedules of posts, replies, edits, deletes and reactions, while it drops and reconnects", async () => {
    const { alice, dave, bob } = h.users;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(step, { minLength: 5, maxLength: 30 }), async (isPublic, steps) => {
        run++;
        const roomId = (
          await alice.cmd(
            "room.create",
            isPublic
              ? { name: `open ${run}`, kind: "public" }
              : { name: `closed ${run}`, kind: "private", members: [bob.id, dave.id] },
          )
        ).result["roomId"] as string;
        if (isPublic) {
          await bob.cmd("room.join", { roomId });
          await dave.cmd("room.join", { roomId });
        }
        const client = new Client(
          bob,
          roomId,
          isPublic ? liveSubjects.room(roomId) : liveSubjects.member(bob.id, roomId),
        );
        await client.connect();
        const people = [alice, dave];
        const messages: string[] = [];
        let last = 0;
        for (const s of steps) {
          if (s.kind === "drop") {
            if (client.connected) await client.drop();
            continue;
          }
          if (s.kind === "reconnect") {
            if (!client.connected) await client.connect();
            continue;
          }
          const who = people[s.by]!;
          let r;
          if (s.kind === "post") {
            const root = s.reply && messages.length > 0 ? messages[0] : undefined;
            r = await who.try("msg.post", {
              roomId,
              body: `said ${messages.length}`,
              ...(root ? { threadRootId: root } : {}),
            });
            if (r.ok) messages.push(r.result["messageId"] as string);
          } else {
            if (messages.length === 0) continue;
            const messageId = messages[s.pick % messages.length]!;
            const emoji = ["👍", "🎉", "🙂"][s.emoji]!;
            const body =
              s.kind === "edit"
                ? { roomId, messageId, body: `edited ${s.pick}` }
                : s.kind === "delete"
                  ? { roomId, messageId }
                  : { roomId, messageId, emoji };
            // Refusals (editing another's message, reacting to a deleted one) change nothing, as they should.
            r = await who.try(`msg.${s.kind}`, body);
          }
          if (r.ok && r.seq > 0) last = Math.max(last, r.seq);
        }
        if (!client.connected) await client.connect();
        await client.reach(last);
        const server = await bob.q("changes", { roomId, after: 0, limit: 5000 });
        const expected = [...server.result.messages].sort((a: { seq: number }, b: { seq: number }) => a.seq - b.seq);
        expect(client.copy.sorted()).toEqual(expected);
        await client.drop();
      }),
      { numRuns: 25 },
    );
  }, 180_000);
});

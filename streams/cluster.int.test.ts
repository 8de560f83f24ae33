import type { NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ConflictError, type DomainEvent } from "../domain/index.ts";
import { startTestCluster, type TestCluster } from "../test/cluster.ts";
import { encodeEvent } from "./envelope.ts";
import { EventStore } from "./eventStore.ts";
import { childTrace } from "./trace.ts";

// A three-node cluster and CHAT_EVENTS with three replicas (NATTER_STREAM_REPLICAS=3): a replicated
// stream answers a lost race on a subject differently from a single server (10164, "wrong last
// sequence" while another append is being proposed, besides 10071), and both must be a conflict.

let cluster: TestCluster;
let ncs: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startTestCluster();
  ncs = cluster.ncs;
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

test("in a replicated stream, appends that lost the race on a subject are each a ConflictError, and one wins", async () => {
  const [a, b] = ncs.map((nc) => new EventStore(nc));
  const meta = (id: string, actor: string) => ({
    actor,
    commandId: id,
    correlationId: id,
    causationId: id,
    trace: childTrace(),
  });
  const joined = (userId: string) => ({ type: "MemberJoined", data: { roomId: "r-cluster", userId } }) as DomainEvent;
  for (let round = 0; round < 5; round++) {
    const head = await a!.lastSeqOf("ev.room.r-cluster");
    // 20 appends decided on the same state, from connections to two servers at once.
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a! : b!).append(encodeEvent(joined(`u${round}-${i}`), meta(ulid(), `u${round}-${i}`)), head).then(
          () => "ok",
          (e: unknown) => e,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(1);
    const wrong = outcomes.filter((o) => o !== "ok" && !(o instanceof ConflictError));
    expect(wrong.map((e) => `${(e as Error).message} (${String((e as Error).cause)})`)).toEqual([]);
  }
  expect((await a!.readSubject("ev.room.r-cluster")).length).toBe(5);
});

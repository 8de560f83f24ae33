import { createServer } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ConflictError, type DomainEvent } from "../domain/index.ts";
import { startTestNats } from "../test/nats.ts";
import { connectNats } from "./connect.ts";
import { encodeEvent } from "./envelope.ts";
import { EventStore } from "./eventStore.ts";
import { ensureEventStream } from "./setup.ts";
import { childTrace } from "./trace.ts";

// A three-node cluster and CHAT_EVENTS with three replicas (NATTER_STREAM_REPLICAS=3): a replicated
// stream answers a lost race on a subject differently from a single server (10164, "wrong last
// sequence" while another append is being proposed, besides 10071), and both must be a conflict.

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

let servers: Awaited<ReturnType<typeof startTestNats>>[] = [];
let ncs: NatsConnection[] = [];

beforeAll(async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const routes = ports.map((p) => `"nats://127.0.0.1:${p}"`).join(", ");
  servers = await Promise.all(
    ports.map((p, i) => startTestNats({ extraConfig: `server_name: n${i}\ncluster { name: natter, listen: "127.0.0.1:${p}", routes: [ ${routes} ] }`, startTimeoutSec: 30 })),
  );
  ncs = await Promise.all(servers.slice(0, 2).map((s) => connectNats(s.url)));
  // The cluster elects its meta leader a moment after the servers listen.
  for (let i = 0; ; i++) {
    try {
      await ensureEventStream(ncs[0]!, { replicas: 3 });
      break;
    } catch (err) {
      if (i >= 60) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(ncs.map((nc) => nc.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

test("in a replicated stream, appends that lost the race on a subject are each a ConflictError, and one wins", async () => {
  const [a, b] = ncs.map((nc) => new EventStore(nc));
  const meta = (id: string, actor: string) => ({ actor, commandId: id, correlationId: id, causationId: id, trace: childTrace() });
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

import { Kvm } from "@nats-io/kv";
import { connect, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestNats } from "../test/nats.ts";
import { CommandIndex } from "./commandIndex.ts";
import { connectNats } from "./connect.ts";
import { isInbox, NoReplyError, Requests, RequestTimeoutError } from "./requests.ts";
import { ensureBuckets } from "./setup.ts";

let server: Awaited<ReturnType<typeof startTestNats>>;
let nc: NatsConnection;
const text = new TextEncoder();
const read = new TextDecoder();

beforeAll(async () => {
  server = await startTestNats();
  nc = await connectNats(server.url);
  // An echo service: answers each request with its own body, reversed.
  nc.subscribe("echo", {
    callback: (_err, m) => void m.respond(text.encode([...read.decode(m.data)].reverse().join(""))),
  });
  nc.subscribe("silent", { callback: () => {} });
  await nc.flush();
});
afterAll(async () => {
  await nc.close();
  await server.stop();
});

describe("Requests", () => {
  test("1,000 requests at once each get their own reply", async () => {
    const requests = new Requests(nc);
    const bodies = Array.from({ length: 1000 }, (_, i) => `request ${i}`);
    const replies = await Promise.all(bodies.map((b) => requests.request("echo", text.encode(b))));
    expect(replies.map((r) => [...read.decode(r.data)].reverse().join(""))).toEqual(bodies);
    expect(requests.waiting).toBe(0);
    requests.close();
  });

  test("no responder is a NoReplyError at once, not a timeout", async () => {
    const requests = new Requests(nc, 10_000);
    const started = performance.now();
    await expect(requests.request("nobody.listens.here", text.encode("?"))).rejects.toBeInstanceOf(NoReplyError);
    expect(performance.now() - started).toBeLessThan(5000);
    requests.close();
  });

  test("a request nobody answers times out with the subject in the message", async () => {
    const requests = new Requests(nc, 5000);
    const err = await requests.request("silent", text.encode("?"), { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toContain("silent");
    expect(requests.waiting).toBe(0);
    requests.close();
  });

  test("close() fails the requests still waiting", async () => {
    const requests = new Requests(nc);
    const waiting = requests.request("silent", text.encode("?"));
    await new Promise((r) => setTimeout(r, 20));
    requests.close();
    await expect(waiting).rejects.toBeInstanceOf(NoReplyError);
  });

  test("closed and used again, it listens anew and answers", async () => {
    const requests = new Requests(nc);
    expect(read.decode((await requests.request("echo", text.encode("ab"))).data)).toBe("ba");
    requests.close();
    const again = await requests.request("echo", text.encode("cd"));
    expect(read.decode(again.data)).toBe("dc");
    await new Promise((r) => setTimeout(r, 50));
    expect(read.decode((await requests.request("echo", text.encode("ef"))).data)).toBe("fe");
    requests.close();
  });

  test("publishes of one turn reach the server in order, and flushed() waits for them", async () => {
    const requests = new Requests(nc);
    const got: string[] = [];
    const sub = nc.subscribe("ordered", { callback: (_err, m) => void got.push(read.decode(m.data)) });
    const sent = Array.from({ length: 500 }, (_, i) => String(i));
    for (const s of sent) requests.publish("ordered", text.encode(s));
    expect(got).toEqual([]);
    await requests.flushed();
    await nc.flush();
    expect(got).toEqual(sent);
    sub.unsubscribe();
    requests.close();
  });

  test("a request on a closed connection fails instead of waiting for its timeout", async () => {
    const other = await connectNats(server.url);
    const requests = new Requests(other, 30_000);
    await other.close();
    const started = performance.now();
    await expect(requests.request("echo", text.encode("late"))).rejects.toBeInstanceOf(Error);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

test("a request the server refuses to take from this connection (permissions) fails at once", async () => {
  const limited = await startTestNats({
    extraConfig: `authorization { users: [ { user: "limited", password: "pw", permissions: { publish: { allow: [">"], deny: ["forbidden.>"] }, subscribe: { allow: [">"] } } } ] }`,
  });
  const lc = await connect({ servers: limited.url, user: "limited", pass: "pw" });
  try {
    lc.subscribe("allowed.echo", { callback: (_err, m) => void m.respond(m.data) });
    await lc.flush();
    const requests = new Requests(lc, 10_000);
    const started = performance.now();
    const err = await requests.request("forbidden.thing", text.encode("?")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionViolationError);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(requests.waiting).toBe(0);
    // The connection and the requests go on working for what is allowed.
    expect(read.decode((await requests.request("allowed.echo", text.encode("ok"))).data)).toBe("ok");
    requests.close();
  } finally {
    await lc.close();
    await limited.stop();
  }
});

test("isInbox: only inboxes, a service's own included, never an event, KV or wildcard subject", () => {
  for (const ok of ["_INBOX.abc.1", "_INBOX_commands.x.y", "_INBOX.u-1.Z9"]) expect(isInbox(ok), ok).toBe(true);
  for (const bad of [
    "ev.room.r1",
    "$KV.snapshots.room.r1",
    "live.room.r1",
    "_INBOX",
    "_INBOX.",
    "_INBOX.>",
    "_INBOX.a.*",
    "_INBOXX.a",
    "_INBOX..a",
    "x._INBOX.a",
    "_INBOX.a b",
  ])
    expect(isInbox(bad), bad).toBe(false);
});

describe("CommandIndex", () => {
  test("finds what was put, not what was never put or was deleted", async () => {
    const buckets = await ensureBuckets(nc);
    const requests = new Requests(nc);
    const index = new CommandIndex(requests);
    index.put("alice", "01CMDA", { seq: 42, subject: "ev.msg.r1.m1" });
    await requests.flushed();
    // The put is not acknowledged: wait until the bucket has it.
    for (let i = 0; i < 100 && (await buckets.commands.get("alice.01CMDA")) === null; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await index.get("alice", "01CMDA")).toEqual({ seq: 42, subject: "ev.msg.r1.m1" });
    expect(await index.get("bob", "01CMDA")).toBeNull();
    expect(await index.get("alice", "01NEVER")).toBeNull();
    await buckets.commands.delete("alice.01CMDA");
    expect(await index.get("alice", "01CMDA")).toBeNull();
    // Written through the KV client too: both read one format.
    await (await new Kvm(nc).open("commands")).put("carol.01CMDC", JSON.stringify({ seq: 7, subject: "ev.room.r9" }));
    expect(await index.get("carol", "01CMDC")).toEqual({ seq: 7, subject: "ev.room.r9" });
    requests.close();
  });
});

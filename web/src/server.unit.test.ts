import type { NatsConnection } from "@nats-io/nats-core";
import { describe, expect, test, vi } from "vitest";
import { createServer, ServerError } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function natsDouble(answers: (() => unknown)[]) {
  const requests: { subject: string; body: Record<string, unknown> }[] = [];
  const published: { subject: string; body: unknown }[] = [];
  const nc = {
    request: vi.fn(async (subject: string, data: Uint8Array) => {
      requests.push({ subject, body: JSON.parse(dec.decode(data)) as Record<string, unknown> });
      const next = answers.shift();
      if (next === undefined) throw new Error("TIMEOUT");
      const a = next();
      return { data: enc.encode(JSON.stringify(a)) };
    }),
    publish: (subject: string, data: Uint8Array) => published.push({ subject, body: JSON.parse(dec.decode(data)) }),
  } as unknown as NatsConnection;
  return { requests, published, nats: { ready: async () => nc, current: () => nc } };
}

describe("server", () => {
  test("queries carry the bearer token and their parameters; a 401 renews the token once; errors keep their code", async () => {
    let token = "old";
    const calls: { url: string; auth: string | null; method: string; body: unknown }[] = [];
    const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      calls.push({
        url: String(url),
        auth: headers.get("authorization"),
        method: init?.method ?? "GET",
        body: init?.body,
      });
      if (headers.get("authorization") === "Bearer old")
        return json(401, { error: { code: "unauthenticated", message: "expired" } });
      if (String(url).includes("/nope")) return json(404, { error: { code: "not_found", message: "no room nope" } });
      return json(200, { messages: [], hasBefore: false, hasAfter: false });
    });
    const s = createServer({
      userId: "u1",
      token: () => token,
      renew: async () => ((token = "new"), true),
      fetch,
      nats: natsDouble([]).nats,
    });
    await s.messages("r 1", { before: 10, limit: 5 });
    expect(calls.map((c) => [c.url, c.auth])).toEqual([
      ["/api/rooms/r%201/messages?before=10&limit=5", "Bearer old"],
      ["/api/rooms/r%201/messages?before=10&limit=5", "Bearer new"],
    ]);
    await s.markRead("r", 7);
    expect(calls.at(-1)).toMatchObject({ url: "/api/rooms/r/read", method: "POST", body: JSON.stringify({ seq: 7 }) });
    await s.presence(["a", "b"]);
    expect(calls.at(-1)?.url).toBe("/api/presence?userIds=a%2Cb");
    const err = await s.room("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: "not_found", status: 404, message: "no room nope" });
  });

  test("commands: the user's subject, a ULID commandId, the answer or a typed refusal; a lost answer is asked again with the same commandId", async () => {
    const d = natsDouble([
      () => ({ ok: true, result: { roomId: "R" }, seq: 4 }),
      () => {
        throw new Error("TIMEOUT");
      },
      () => ({ ok: true, result: { messageId: "M", seq: 9 }, seq: 9 }),
      () => ({ ok: false, error: { code: "forbidden", message: "not a member", details: { roomId: "R" } } }),
    ]);
    const s = createServer({ userId: "u1", token: () => "t", nats: d.nats, fetch: vi.fn() });
    expect(await s.command("room.create", { name: "x", kind: "public" })).toEqual({ result: { roomId: "R" }, seq: 4 });
    expect(d.requests[0]?.subject).toBe("cmd.u1.room.create");
    expect(d.requests[0]?.body["commandId"]).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);

    expect(await s.command("msg.post", { roomId: "R", body: "hi" }, { commandId: "C1" })).toEqual({
      result: { messageId: "M", seq: 9 },
      seq: 9,
    });
    expect(d.requests.slice(1, 3).map((r) => r.body["commandId"])).toEqual(["C1", "C1"]);

    const refused = await s
      .command("msg.delete", { roomId: "R", messageId: "M" }, { admin: true })
      .catch((e: unknown) => e);
    expect(d.requests[3]?.subject).toBe("admincmd.u1.msg.delete");
    expect(refused).toMatchObject({ code: "forbidden", message: "not a member", details: { roomId: "R" } });

    const lost = await s.command("room.join", { roomId: "R" }).catch((e: unknown) => e);
    expect(lost).toMatchObject({ code: "unavailable" });
    expect(d.requests.slice(4).map((r) => r.body["commandId"])).toHaveLength(3);
    expect(new Set(d.requests.slice(4).map((r) => r.body["commandId"])).size).toBe(1);

    expect(s.heartbeat("conn1", "away")).toBe(true);
    expect(s.typing("R")).toBe(true);
    expect(d.published).toEqual([
      { subject: "presence.u1", body: { connectionId: "conn1", status: "away" } },
      { subject: "typing.u1.R", body: {} },
    ]);
  });
});

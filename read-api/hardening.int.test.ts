import { headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startReadHarness, type ReadHarness } from "../test/readHarness.ts";

const NUL = "a\u0000b";
const LONE = "half \udfff a pair";

/**
 * What an attacker with an ordinary account (bob) or none (charlie) sends: text the stores cannot
 * carry in every text field, the headers natter copies into events, and query parameters. Each is
 * `invalid`, names the field, and appends nothing.
 */
describe("text the log and the projections cannot carry", () => {
  let h: ReadHarness;
  let roomId: string;
  let messageId: string;
  let privateId: string;
  beforeAll(async () => {
    h = await startReadHarness();
    roomId = (await h.users.bob.cmd("room.create", { name: "general", kind: "public" })).result["roomId"] as string;
    messageId = (await h.users.bob.cmd("msg.post", { roomId, body: "hello" })).result["messageId"] as string;
    privateId = (await h.users.alice.cmd("room.create", { name: "secret", kind: "private" })).result[
      "roomId"
    ] as string;
    await h.caughtUp();
  }, 60_000);
  afterAll(async () => h?.stop());

  const cases = (): [string, Record<string, unknown>, string][] => [
    ["room.create", { name: "$", kind: "public" }, "name"],
    ["room.create", { name: "ok", kind: "public", topic: "$" }, "topic"],
    ["room.rename", { roomId, name: "$" }, "name"],
    ["room.topic", { roomId, topic: "$" }, "topic"],
    ["room.invite", { roomId, userId: "someone", reason: "$" }, "reason"],
    ["room.remove", { roomId, userId: "someone", reason: "$" }, "reason"],
    ["room.ban", { roomId, userId: "someone", reason: "$" }, "reason"],
    ["room.unban", { roomId, userId: "someone", reason: "$" }, "reason"],
    ["msg.post", { roomId, body: "$" }, "body"],
    ["msg.edit", { roomId, messageId, body: "$" }, "body"],
    ["msg.delete", { roomId, messageId, reason: "$" }, "reason"],
    ["msg.react", { roomId, messageId, emoji: "$" }, "emoji"],
    ["user.profile", { displayName: "$" }, "displayName"],
    ["user.profile", { language: "$" }, "language"],
  ];

  for (const [name, bad] of [
    ["a NUL", NUL],
    ["a lone surrogate", LONE],
  ] as const) {
    test(`${name} in any text field of any command is invalid, names the field, and appends nothing`, async () => {
      const before = await h.store.lastSeq();
      for (const [action, template, field] of cases()) {
        const body = Object.fromEntries(Object.entries(template).map(([k, v]) => [k, v === "$" ? bad : v]));
        const reply = await h.users.bob.try(action, body);
        expect(reply.ok, `${action} ${field}`).toBe(false);
        if (reply.ok) continue;
        expect(reply.error.code, `${action} ${field}`).toBe("invalid");
        expect(JSON.stringify(reply.error.details), `${action} ${field}`).toContain(`"path":"${field}"`);
      }
      // In a key, too.
      const keyed = await h.users.bob.try("msg.post", { roomId, body: "fine", [bad]: 1 });
      expect(keyed).toMatchObject({ ok: false, error: { code: "invalid" } });
      expect(await h.store.lastSeq()).toBe(before);
    });
  }

  test("copied headers: a NUL, a lone surrogate or control characters in Natter-Correlation, one over 256 characters, a tracestate over 512 characters or 32 members are invalid and append nothing; good ones are copied", async () => {
    const before = await h.store.lastSeq();
    const bad: [string, string][] = [
      ["Natter-Correlation", NUL],
      ["Natter-Correlation", LONE],
      ["Natter-Correlation", "tab\there"],
      ["Natter-Correlation", "x".repeat(257)],
      ["tracestate", "a=1,b=\u0000"],
      ["tracestate", `a=${"x".repeat(50_000)}`],
      ["tracestate", Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")],
      ["tracestate", "not a member"],
    ];
    for (const [header, value] of bad) {
      const hdrs = natsHeaders();
      hdrs.set(header, value);
      // charlie has no role: user.profile is the one command his permissions let him send.
      const reply = await h.users.charlie.try("user.profile", { displayName: "Charlie" }, { headers: hdrs });
      expect(reply, `${header}: ${value.slice(0, 30)}`).toMatchObject({ ok: false, error: { code: "invalid" } });
      if (!reply.ok) expect(JSON.stringify(reply.error.details)).toContain(`headers.${header}`);
    }
    expect(await h.store.lastSeq()).toBe(before);

    const hdrs = natsHeaders();
    hdrs.set("Natter-Correlation", "x".repeat(256));
    hdrs.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    hdrs.set("tracestate", Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(","));
    const ok = await h.users.charlie.try("user.profile", { displayName: "Charlie" }, { headers: hdrs });
    expect(ok.ok).toBe(true);
    const event = await h.store.readEvent(ok.ok ? ok.seq : 0);
    expect(event?.correlationId).toBe("x".repeat(256));
    expect(event?.tracestate).toBe(hdrs.get("tracestate"));
  });

  test("query parameters: a NUL or a lone surrogate is invalid over HTTP and NATS", async () => {
    const http = await h.users.bob.get(`/api/search?q=${encodeURIComponent(NUL)}`);
    expect(http.status).toBe(400);
    expect(http.body).toMatchObject({ error: { code: "invalid" } });
    for (const q of [NUL, LONE])
      expect(await h.users.bob.q("search", { q })).toMatchObject({ ok: false, error: { code: "invalid" } });
    expect(await h.users.bob.q("messages", { roomId, [LONE]: 1 })).toMatchObject({
      ok: false,
      error: { code: "invalid" },
    });
  });

  test("a private room answers an outsider's leave, join or post as a room that does not exist: no sequence, no refusal that confirms it", async () => {
    const ghost = "01JZZZZZZZZZZZZZZZZZZZZZZZ";
    const before = await h.store.lastSeq();
    for (const [action, body] of [
      ["room.leave", {}],
      ["room.join", {}],
      ["msg.post", { body: "hi" }],
    ] as const) {
      const real = await h.users.bob.try(action, { roomId: privateId, ...body });
      const none = await h.users.bob.try(action, { roomId: ghost, ...body });
      expect(real, action).toMatchObject({ ok: false, error: { code: "not_found" } });
      expect(none, action).toMatchObject({ ok: false, error: { code: "not_found" } });
      if (!real.ok && !none.ok) expect(real.error.message.replace(privateId, ghost)).toBe(none.error.message);
    }
    expect(await h.store.lastSeq()).toBe(before);
  });
});

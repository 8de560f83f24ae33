import fc from "fast-check";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { ulid } from "ulid";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { CommandReply } from "./handler.ts";
import { mustSend } from "../test/commandClient.ts";
import { startCommandHarness, type CommandHarness } from "../test/commandHarness.ts";

let h: CommandHarness;
let roomId: string;
let messageId: string;
beforeAll(async () => {
  h = await startCommandHarness();
  roomId = (await mustSend(h.nc, "alice", "room.create", { name: "fuzz", kind: "public" })).result["roomId"] as string;
  messageId = (await mustSend(h.nc, "alice", "msg.post", { roomId, body: "target" })).result["messageId"] as string;
});
afterAll(async () => {
  await h.stop();
});

/** A generated bad command: the subject, the raw payload, the headers it carries, and what makes it bad. */
type Bad = { subject: string; payload: string; why: string; headers?: [string, string][] };

const badId = fc.oneof(
  fc.constantFrom("a.b", "*", ">", "with space", "tab\t", "", "x".repeat(65), "a>b", "ü", "new\nline"),
  fc.string({ minLength: 1, maxLength: 10 }).map((s) => `${s}.${s}`),
);
const wrongType = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const goodBodies = (): Record<string, Record<string, unknown>> => ({
  "room.create": { name: "ok", kind: "public" },
  "room.join": { roomId },
  "room.invite": { roomId, userId: "bob" },
  "room.rename": { roomId, name: "new name" },
  "room.role": { roomId, userId: "bob", role: "moderator" },
  "msg.post": { roomId, body: "hello" },
  "msg.edit": { roomId, messageId, body: "edited" },
  "msg.react": { roomId, messageId, emoji: "🎉" },
  "user.profile": { displayName: "Alice" },
});
const actionAndBody = fc.constantFrom(...Object.entries(goodBodies()));

const badCommand: fc.Arbitrary<Bad> = fc.oneof(
  // Not JSON at all.
  fc
    .string({ maxLength: 40 })
    .filter((s) => {
      try {
        JSON.parse(s);
        return false;
      } catch {
        return true;
      }
    })
    .map((payload) => ({ subject: "cmd.alice.msg.post", payload, why: "invalid JSON" })),
  // JSON, but not an object.
  fc
    .oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(fc.nat()))
    .map((v) => ({ subject: "cmd.alice.room.join", payload: JSON.stringify(v), why: "not an object" })),
  // A good body without, or with a bad, commandId.
  fc.tuple(actionAndBody, fc.option(fc.oneof(badId, wrongType), { nil: undefined })).map(([[action, body], id]) => ({
    subject: `cmd.alice.${action}`,
    payload: JSON.stringify(id === undefined ? body : { commandId: id, ...body }),
    why: "bad commandId",
  })),
  // A required field missing.
  actionAndBody
    .filter(([a]) => a !== "user.profile")
    .chain(([action, body]) =>
      fc.constantFrom(...Object.keys(body)).map((drop) => {
        const { [drop]: _, ...rest } = body;
        return {
          subject: `cmd.alice.${action}`,
          payload: JSON.stringify({ commandId: ulid(), ...rest }),
          why: `missing ${drop}`,
        };
      }),
    ),
  // A field of the wrong type.
  fc.tuple(actionAndBody, wrongType).chain(([[action, body], value]) =>
    fc.constantFrom(...Object.keys(body)).map((field) => ({
      subject: `cmd.alice.${action}`,
      payload: JSON.stringify({ commandId: ulid(), ...body, [field]: value }),
      why: `${field} of wrong type`,
    })),
  ),
  // Ids with dots, wildcards or spaces.
  fc.tuple(fc.constantFrom("room.join", "msg.post", "msg.react", "room.invite"), badId).map(([action, id]) => {
    const body = { ...goodBodies()[action]! };
    for (const k of ["roomId", "messageId", "userId"]) if (k in body) body[k] = id;
    return { subject: `cmd.alice.${action}`, payload: JSON.stringify({ commandId: ulid(), ...body }), why: "bad id" };
  }),
  // Over-long or empty bodies and names.
  fc
    .oneof(
      fc.integer({ min: 8001, max: 9000 }).map((n) => ({ roomId, body: "é".repeat(n) })),
      fc.constantFrom("", "   ", "\n\t").map((body) => ({ roomId, body })),
    )
    .map((b) => ({
      subject: "cmd.alice.msg.post",
      payload: JSON.stringify({ commandId: ulid(), ...b }),
      why: "bad body",
    })),
  fc.integer({ min: 81, max: 300 }).map((n) => ({
    subject: "cmd.alice.room.create",
    payload: JSON.stringify({ commandId: ulid(), name: "n".repeat(n), kind: "public" }),
    why: "name too long",
  })),
  // Unknown fields.
  fc.tuple(actionAndBody, fc.constantFrom("actor", "userIdd", "admin", "seq")).map(([[action, body], extra]) => ({
    subject: `cmd.alice.${action}`,
    payload: JSON.stringify({ commandId: ulid(), ...body, [extra]: "x" }),
    why: "unknown field",
  })),
  // Unknown actions and malformed subjects.
  fc
    .constantFrom(
      "cmd.alice.room.explode",
      "cmd.alice.nope.create",
      "cmd.alice",
      "cmd.alice.room",
      "cmd.alice.room.create.extra",
      "admincmd.alice.msg",
      "cmd.al$ce.room.join",
      "cmd.alice.msg.post.x.y",
    )
    .map((subject) => ({
      subject,
      payload: JSON.stringify({ commandId: ulid(), roomId, body: "x" }),
      why: "bad subject",
    })),
  // A good command with a header natter would copy into the event that breaks its rules.
  fc
    .tuple(
      actionAndBody,
      fc.oneof(
        fc.tuple(
          fc.constant("Natter-Correlation"),
          fc.oneof(
            fc.constantFrom("a\u0000b", "tab\there", "\u00e9t\u00e9", "x".repeat(257)),
            fc.string({ minLength: 257, maxLength: 400 }),
          ),
        ),
        fc.tuple(
          fc.constant("tracestate"),
          fc.oneof(
            fc.constantFrom("no-equals", "UPPER=1", "a=1,a=2", `a=${"x".repeat(600)}`, "a=\u0000"),
            fc.integer({ min: 33, max: 60 }).map((n) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(",")),
          ),
        ),
      ),
    )
    .map(([[action, body], header]) => ({
      subject: `cmd.alice.${action}`,
      payload: JSON.stringify({ commandId: ulid(), ...body }),
      headers: [header],
      why: "bad header",
    })),
  // A text field with what the stores cannot carry: NUL, or half of a surrogate pair.
  fc
    .tuple(
      fc.constantFrom("msg.post", "room.create", "user.profile", "room.rename"),
      fc.constantFrom("\\u0000", "\\ud800", "\\udfff", "x\\udc00y"),
    )
    .map(([action, bad]) => {
      const [body, field] = (
        {
          "msg.post": [{ roomId }, "body"],
          "room.create": [{ kind: "public" }, "name"],
          "user.profile": [{}, "displayName"],
          "room.rename": [{ roomId }, "name"],
        } as const
      )[action];
      return {
        subject: `cmd.alice.${action}`,
        payload: JSON.stringify({ commandId: ulid(), ...body, [field]: `text ${JSON.parse(`"${bad}"`)}` }),
        why: "unstorable text",
      };
    }),
  // A bad language tag and an empty profile.
  fc.constantFrom({ language: "english!" }, { language: "e" }, {}, { displayName: "" }).map((b) => ({
    subject: "cmd.alice.user.profile",
    payload: JSON.stringify({ commandId: ulid(), ...b }),
    why: "bad profile",
  })),
);

test("10,000 generated bad commands: each a typed `invalid` error, nothing appended, the service answers the next good command", async () => {
  const before = await h.eventCount();
  const cases = fc.sample(badCommand, { numRuns: 10_000, seed: 42 });
  const wrong: { bad: Bad; reply: CommandReply }[] = [];
  for (let i = 0; i < cases.length; i += 200) {
    const chunk = cases.slice(i, i + 200);
    const replies = await Promise.all(
      chunk.map(async (bad) => {
        const hdrs = bad.headers === undefined ? undefined : natsHeaders();
        for (const [k, v] of bad.headers ?? []) hdrs!.set(k, v);
        return (
          await h.nc.request(bad.subject, bad.payload, { timeout: 10_000, ...(hdrs ? { headers: hdrs } : {}) })
        ).json<CommandReply>();
      }),
    );
    replies.forEach((reply, j) => {
      if (reply.ok || reply.error.code !== "invalid" || typeof reply.error.message !== "string")
        wrong.push({ bad: chunk[j]!, reply });
    });
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  expect(new Set(cases.map((c) => c.why.split(" ")[0])).size).toBeGreaterThanOrEqual(12);
  expect(cases.filter((c) => c.why === "bad header").length).toBeGreaterThan(200);
  expect(await h.eventCount()).toBe(before);
  const good = await mustSend(h.nc, "alice", "msg.post", { roomId, body: "still here" });
  expect(good.seq).toBeGreaterThan(0);
  expect(await h.eventCount()).toBe(before + 1);
});

import { describe, expect, test } from "vitest";
import { CommandId, ID_PATTERN, MessageId, RoomId, StreamSeq, UserId, userIdFromSub } from "./ids.ts";

const hex = (s: string): string => Buffer.from(s, "utf8").toString("hex");

describe("userIdFromSub", () => {
  test("a UUID sub (Keycloak's) is kept as it is", () => {
    expect(userIdFromSub("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")).toBe("f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  });

  test("a sub of the id alphabet is kept, up to 64 characters", () => {
    expect(userIdFromSub("alice_01")).toBe("alice_01");
    expect(userIdFromSub("a".repeat(64))).toBe("a".repeat(64));
  });

  test("an e-mail is mapped to x_ and the hex of its UTF-8 bytes", () => {
    expect(userIdFromSub("alice@example.com")).toBe("x_616c696365406578616d706c652e636f6d");
  });

  test("dots, wildcards, white space and non-ASCII are mapped, never kept", () => {
    for (const sub of ["a.b", "a*", "a>", "a b", "tab\there", "zoë", ""]) {
      const id = userIdFromSub(sub);
      expect(id).toBe(`x_${hex(sub)}`);
      expect(ID_PATTERN.test(id)).toBe(true);
    }
  });

  test("a sub that looks like a mapped id is mapped too, so two subs never share an id", () => {
    const mapped = userIdFromSub("@"); // "x_40"
    expect(mapped).toBe("x_40");
    expect(userIdFromSub("x_40")).toBe(`x_${hex("x_40")}`);
    expect(userIdFromSub("x_40")).not.toBe(mapped);
  });

  test("the mapping is stable and reversible", () => {
    const subs = ["bob@example.com", "service-account:bot", "ユーザー"];
    for (const sub of subs) {
      const id = userIdFromSub(sub);
      expect(userIdFromSub(sub)).toBe(id);
      expect(Buffer.from(id.slice(2), "hex").toString("utf8")).toBe(sub);
    }
    expect(new Set(subs.map(userIdFromSub)).size).toBe(subs.length);
  });

  test("a sub too long for 64 characters after mapping is refused", () => {
    expect(userIdFromSub("@".repeat(31))).toHaveLength(64);
    expect(() => userIdFromSub("@".repeat(32))).toThrow(/userId must be 1 to 64/);
    expect(() => userIdFromSub("a".repeat(65))).toThrow(/userId must be 1 to 64/);
  });
});

describe("id companions", () => {
  test.each(["01HZX3K7Q9VYB6T2M4N8R5C1DE", "u1", "a-b_C", "x".repeat(64)])("%s is an id", (id) => {
    expect(UserId.parse(id)).toBe(id);
    expect(RoomId.is(id)).toBe(true);
    expect(MessageId.is(id)).toBe(true);
    expect(CommandId.is(id)).toBe(true);
  });

  test.each(["", "a.b", "a*", "ev.>", ">", "a b", " a", "a\n", "zoë", "x".repeat(65)])("%j is not an id", (id) => {
    expect(() => UserId.parse(id)).toThrow(/userId must be 1 to 64 of A-Z, a-z, 0-9, _ and -/);
    expect(RoomId.is(id)).toBe(false);
  });

  test("a non-string is not an id", () => {
    expect(() => UserId.parse(42)).toThrow(/userId must be a string/);
    expect(MessageId.is(undefined)).toBe(false);
  });

  test("a stream sequence is a non-negative integer", () => {
    expect(StreamSeq.parse(7)).toBe(7);
    expect(StreamSeq.none).toBe(0);
    for (const bad of [-1, 1.5, "3"]) expect(() => StreamSeq.parse(bad)).toThrow();
  });
});

test("ulidTime reads a ULID's creation time; anything else is not a ULID", async () => {
  const { ulidTime } = await import("./ids.ts");
  expect(ulidTime("01ARZ3NDEKTSV4RRFFQ69G5FAV")).toBe(1469922850259);
  expect(ulidTime("01arz3ndektsv4rrffq69g5fav")).toBe(1469922850259);
  const { ulid } = await import("ulid");
  const t = Date.now() - 12_345;
  expect(ulidTime(ulid(t))).toBe(t);
  for (const bad of [
    "",
    "alice",
    "01ARZ3NDEKTSV4RRFFQ69G5FA",
    "81ARZ3NDEKTSV4RRFFQ69G5FAV",
    "01ARZ3NDEKTSV4RRFFQ69G5FAU",
  ])
    expect(ulidTime(bad), bad).toBeUndefined();
});

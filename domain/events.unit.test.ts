import { describe, expect, test } from "vitest";
import { EVENTS, isEventType, upcast, type EventType } from "./events.ts";
import fixture from "./message/fixtures/MessagePosted.v1.json" with { type: "json" };
import profileBeforeIdentity from "./user/fixtures/UserProfileUpdated.v1.json" with { type: "json" };

describe("upcast", () => {
  test("a version-1 MessagePosted (body named text, no mentions) reads as the current shape", () => {
    expect(EVENTS.MessagePosted.version).toBe(2);
    expect(upcast("MessagePosted", 1, fixture)).toEqual({
      type: "MessagePosted",
      data: {
        roomId: "01HZX3K7Q9VYB6T2M4N8R5C1DE",
        messageId: "01HZX3M2A7PQ9R4S6T8V0W2XYZ",
        authorId: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        body: "hello from the first prototype",
        mentions: [],
      },
    });
  });

  test("a UserProfileUpdated stored before identity names reads unchanged, with no identityName (still version 1)", () => {
    expect(EVENTS.UserProfileUpdated.version).toBe(1);
    expect(upcast("UserProfileUpdated", 1, profileBeforeIdentity)).toEqual({
      type: "UserProfileUpdated",
      data: profileBeforeIdentity,
    });
  });

  test("the stored fixture is left as it was", () => {
    const before = structuredClone(fixture);
    upcast("MessagePosted", 1, fixture);
    expect(fixture).toEqual(before);
  });

  test("a current payload is only validated", () => {
    const current = { ...fixture, text: undefined, body: "hi", mentions: ["u1"], threadRootId: "m0" };
    expect(upcast("MessagePosted", 2, current)).toEqual({
      type: "MessagePosted",
      data: {
        roomId: fixture.roomId,
        messageId: fixture.messageId,
        authorId: fixture.authorId,
        body: "hi",
        mentions: ["u1"],
        threadRootId: "m0",
      },
    });
  });

  test("a version newer than this code knows is refused, saying so", () => {
    expect(() => upcast("MessagePosted", 3, fixture)).toThrow(
      /MessagePosted: schema version 3 is newer than this code knows \(2\); upgrade natter/,
    );
    expect(() => upcast("RoomCreated", 2, {})).toThrow(/RoomCreated: schema version 2 is newer/);
  });

  test.each([0, -1, 1.5, Number.NaN])("version %s is refused", (version) => {
    expect(() => upcast("MessagePosted", version, fixture)).toThrow(/is not a positive integer/);
  });

  test("a step with no upcaster is refused, naming the step", () => {
    // A catalogue in which MessagePosted went to version 3 without an upcaster from 2.
    const catalogue = EVENTS as Record<EventType, (typeof EVENTS)[EventType]>;
    const current = catalogue.MessagePosted;
    catalogue.MessagePosted = { ...current, version: 3 };
    try {
      expect(() => upcast("MessagePosted", 1, fixture)).toThrow(/MessagePosted: no upcaster from schema version 2/);
    } finally {
      catalogue.MessagePosted = current;
    }
    expect(upcast("MessagePosted", 1, fixture).type).toBe("MessagePosted");
  });

  test.each([
    [
      "a version-1 payload read as version 2 (no body)",
      2,
      fixture,
      /version 2 does not fit the schema: .*expected string, received undefined\s+→ at data\.body/,
    ],
    [
      "a bad id",
      1,
      { ...fixture, roomId: "room.1" },
      /version 1 does not fit the schema: .*roomId.*\s+→ at data\.roomId/,
    ],
    [
      "a missing author",
      1,
      { roomId: fixture.roomId, messageId: fixture.messageId, text: "hi" },
      /version 1 does not fit the schema: .*\s+→ at data\.authorId/,
    ],
    ["a body that is not text", 1, { ...fixture, text: 42 }, /version 1 does not fit the schema: .*\s+→ at data\.body/],
  ])("a payload that does not fit the schema is refused: %s", (_, version, payload, reason) => {
    expect(() => upcast("MessagePosted", version, payload)).toThrow(reason);
    expect(() => upcast("MessagePosted", version, payload)).toThrow(/^MessagePosted: the payload of schema version/);
  });

  test.each([null, "hello", 42, ["a"]])("a payload that is not an object (%j) is refused", (payload) => {
    expect(() => upcast("MessagePosted", 1, payload)).toThrow(
      /^MessagePosted: the payload of schema version 1 is not a JSON object$/,
    );
  });

  test("every event type of the catalogue is known, and nothing else", () => {
    expect(isEventType("MessagePosted")).toBe(true);
    expect(isEventType("RoomCreated")).toBe(true);
    expect(isEventType("MessageExploded")).toBe(false);
    expect(isEventType("toString")).toBe(false);
  });
});

import { expect, test } from "vitest";
import { roomOfEventSubject } from "../../streams/index.ts";
import { auditRoomId } from "./projection.ts";

test("auditRoomId takes the token after room or msg; null for other aggregates", () => {
  expect(auditRoomId("ev.room.r1")).toBe("r1");
  expect(auditRoomId("ev.msg.r1.m1")).toBe("r1");
  expect(auditRoomId("ev.user.u1")).toBeNull();
});

test("auditRoomId checks neither the ev. prefix nor an empty id, where roomOfEventSubject does", () => {
  expect(auditRoomId("x.room.r1")).toBe("r1");
  expect(roomOfEventSubject("x.room.r1")).toBeNull();
  expect(auditRoomId("ev.room.")).toBe("");
  expect(roomOfEventSubject("ev.room.")).toBeNull();
  expect(auditRoomId("ev.room")).toBeNull();
  expect(roomOfEventSubject("ev.room")).toBeNull();
});

import { describe, expect, test } from "vitest";
import { parseRoute, routePath } from "./route.ts";

describe("routes", () => {
  test("paths and routes round-trip; anything else is home", () => {
    expect(parseRoute("/")).toEqual({ view: "home" });
    expect(parseRoute("/rooms/01ABC")).toEqual({ view: "room", roomId: "01ABC" });
    expect(parseRoute("/rooms/01ABC", "?m=01XYZ")).toEqual({ view: "room", roomId: "01ABC", messageId: "01XYZ" });
    expect(parseRoute("/rooms/01ABC", "?m=a.b")).toEqual({ view: "room", roomId: "01ABC" });
    expect(parseRoute("/rooms/a.b")).toEqual({ view: "home" });
    expect(parseRoute("/callback")).toEqual({ view: "home" });
    for (const r of [
      { view: "home" as const },
      { view: "room" as const, roomId: "R1" },
      { view: "room" as const, roomId: "R1", messageId: "M1" },
    ]) {
      const path = routePath(r);
      const [p, q] = path.split("?");
      expect(parseRoute(p!, q === undefined ? "" : `?${q}`)).toEqual(r);
    }
  });
});

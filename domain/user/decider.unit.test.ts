import { describe, expect, test } from "vitest";
import { givenUser, meta, user, userFrom } from "../testing/given.ts";
import { userCommandBodies } from "./commands.ts";
import type { UserEvent } from "./events.ts";

const mick = user("mick");
const named: UserEvent = { type: "UserProfileUpdated", data: { userId: mick, displayName: "Mick", language: "en" } };

describe("user.profile", () => {
  test.each(["user", "admin", "none"] as const)("a user with privilege %s sets their display name and language", (privilege) => {
    givenUser([])
      .when({ type: "profile", data: { displayName: "  Mick   Jones ", language: "pt-BR" }, meta: meta("mick", privilege) })
      .then([{ type: "UserProfileUpdated", data: { userId: mick, displayName: "Mick Jones", language: "pt-BR" } }]);
  });

  test("only what is given is changed", () => {
    givenUser([named]).when({ type: "profile", data: { language: "de" }, meta: meta("mick") }).then([{ type: "UserProfileUpdated", data: { userId: mick, language: "de" } }]);
    expect(userFrom([named, { type: "UserProfileUpdated", data: { userId: mick, language: "de" } }])).toEqual({
      exists: true,
      userId: mick,
      displayName: "Mick",
      language: "de",
    });
  });

  test("the profile changed is always the actor's own", () => {
    givenUser([]).when({ type: "profile", data: { displayName: "Otto" }, meta: meta("otto") }).then([{ type: "UserProfileUpdated", data: { userId: user("otto"), displayName: "Otto" } }]);
  });

  test("the same values again are a no-op", () => {
    givenUser([named]).when({ type: "profile", data: { displayName: " Mick ", language: "en" }, meta: meta("mick") }).thenNothing();
    givenUser([named]).when({ type: "profile", data: { language: "en" }, meta: meta("mick") }).thenNothing();
  });

  test.each([
    ["nothing to change", {}],
    ["a language that is not BCP 47", { language: "english please" }],
    ["an empty display name", { displayName: "   " }],
    ["an unknown field", { displayName: "Mick", userId: "otto" }],
  ])("a body with %s is refused by its schema", (_, body) => {
    expect(userCommandBodies.profile.safeParse(body).success).toBe(false);
  });
});

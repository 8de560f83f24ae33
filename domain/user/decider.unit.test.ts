import { describe, expect, test } from "vitest";
import { givenUser, meta, user, userFrom } from "../testing/given.ts";
import { ForbiddenError } from "../errors.ts";
import { userCommandBodies } from "./commands.ts";
import type { UserEvent } from "./events.ts";

const mick = user("mick");
const named: UserEvent = { type: "UserProfileUpdated", data: { userId: mick, displayName: "Mick", language: "en" } };

describe("user.profile", () => {
  test.each(["user", "admin", "none"] as const)(
    "a user with privilege %s sets their display name and language",
    (privilege) => {
      givenUser([])
        .when({
          type: "profile",
          data: { displayName: "  Mick   Jones ", language: "pt-BR" },
          meta: meta("mick", privilege),
        })
        .then([{ type: "UserProfileUpdated", data: { userId: mick, displayName: "Mick Jones", language: "pt-BR" } }]);
    },
  );

  test("only what is given is changed", () => {
    givenUser([named])
      .when({ type: "profile", data: { language: "de" }, meta: meta("mick") })
      .then([{ type: "UserProfileUpdated", data: { userId: mick, language: "de" } }]);
    expect(userFrom([named, { type: "UserProfileUpdated", data: { userId: mick, language: "de" } }])).toEqual({
      exists: true,
      userId: mick,
      displayName: "Mick",
      language: "de",
      identityName: null,
    });
  });

  test("the profile changed is always the actor's own", () => {
    givenUser([])
      .when({ type: "profile", data: { displayName: "Otto" }, meta: meta("otto") })
      .then([{ type: "UserProfileUpdated", data: { userId: user("otto"), displayName: "Otto" } }]);
  });

  test("the same values again are a no-op", () => {
    givenUser([named])
      .when({ type: "profile", data: { displayName: " Mick ", language: "en" }, meta: meta("mick") })
      .thenNothing();
    givenUser([named])
      .when({ type: "profile", data: { language: "en" }, meta: meta("mick") })
      .thenNothing();
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

describe("user.identity: the name the user's token gives", () => {
  const service = meta("mick", "service");

  test("natter's auth service records it once: the same name again is a no-op", () => {
    givenUser([])
      .when({ type: "identity", data: { name: " Mick  Jones " }, meta: service })
      .then([{ type: "UserProfileUpdated", data: { userId: mick, identityName: "Mick Jones" } }]);
    const recorded: UserEvent = { type: "UserProfileUpdated", data: { userId: mick, identityName: "Mick Jones" } };
    givenUser([recorded])
      .when({ type: "identity", data: { name: "Mick Jones" }, meta: service })
      .thenNothing();
  });

  test("a changed name is recorded again", () => {
    const recorded: UserEvent = { type: "UserProfileUpdated", data: { userId: mick, identityName: "mick" } };
    givenUser([recorded])
      .when({ type: "identity", data: { name: "Mick Jones" }, meta: service })
      .then([{ type: "UserProfileUpdated", data: { userId: mick, identityName: "Mick Jones" } }]);
  });

  test("it is kept apart from the name the user chose, which it never changes", () => {
    expect(
      userFrom([named, { type: "UserProfileUpdated", data: { userId: mick, identityName: "mjones" } }]),
    ).toMatchObject({ displayName: "Mick", identityName: "mjones" });
    givenUser([named])
      .when({ type: "identity", data: { name: "mjones" }, meta: service })
      .then([{ type: "UserProfileUpdated", data: { userId: mick, identityName: "mjones" } }]);
  });

  test.each(["user", "admin", "none"] as const)(
    "a user (privilege %s) cannot record their own identity name",
    (privilege) => {
      givenUser([])
        .when({ type: "identity", data: { name: "Root" }, meta: meta("mick", privilege) })
        .thenThrows(ForbiddenError);
    },
  );
});

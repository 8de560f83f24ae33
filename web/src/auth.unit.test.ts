import { describe, expect, test } from "vitest";
import { identityOf, jwtClaims, userIdFromSub } from "./auth.ts";

/** The outputs of domain/ids.ts `userIdFromSub` for these subs (the server's mapping, pinned). */
const SERVER_MAPPING: [string, string | null][] = [
  ["f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"],
  ["alice@example.com", "x_616c696365406578616d706c652e636f6d"],
  ["x_abc", "x_785f616263"],
  ["bob", "bob"],
  ["a.b", "x_612e62"],
  ["ü", "x_c3bc"],
  ["user name", "x_75736572206e616d65"],
  ["", "x_"],
  ["A".repeat(64), "A".repeat(64)],
  ["A".repeat(65), null],
  ["é".repeat(15) + "a", "x_c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a961"],
  ["é".repeat(16), null],
];

const b64url = (o: unknown) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o))))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const jwt = (claims: Record<string, unknown>) => `${b64url({ alg: "RS256" })}.${b64url(claims)}.sig`;

describe("userIdFromSub", () => {
  test.each(SERVER_MAPPING)("%j maps as the server maps it", (sub, expected) => {
    if (expected === null) expect(() => userIdFromSub(sub)).toThrow();
    else expect(userIdFromSub(sub)).toBe(expected);
  });
});

describe("identity", () => {
  test("reads the user id, name and realm roles from the access token", () => {
    const token = jwt({
      sub: "alice@example.com",
      preferred_username: "alice",
      realm_access: { roles: ["admin", "user", 7] },
      name: "Ålice",
    });
    expect(jwtClaims(token)).toMatchObject({ name: "Ålice" });
    const id = identityOf({
      access_token: token,
      profile: { sub: "ignored", iss: "", aud: "", exp: 0, iat: 0 },
      expires_at: 1000,
    });
    expect(id).toEqual({
      userId: "x_616c696365406578616d706c652e636f6d",
      username: "alice",
      roles: ["admin", "user"],
      accessToken: token,
      expiresAt: 1_000_000,
    });
  });

  test("a token that is not a JWT gives no claims, and the ID token's sub is used", () => {
    expect(jwtClaims("opaque")).toEqual({});
    expect(jwtClaims("a.%%%.c")).toEqual({});
    const id = identityOf({
      access_token: "opaque",
      profile: { sub: "bob", iss: "", aud: "", exp: 0, iat: 0, preferred_username: "bobby" },
      expires_at: undefined,
    });
    expect(id).toMatchObject({ userId: "bob", username: "bobby", roles: [] });
  });
});

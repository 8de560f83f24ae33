import { z } from "zod";
import { UserId } from "../ids.ts";

/**
 * A change of a user's profile: only the fields given change. `displayName` is the name the user
 * chose; `identityName` the one their identity provider gives (the token's `name`, else
 * `preferred_username`), recorded by natter's auth service. A chosen name wins over the identity's.
 * `identityName` came later: events without it are the same schema version.
 */
export const UserProfileUpdated = z.object({
  type: z.literal("UserProfileUpdated"),
  data: z.object({
    userId: UserId.schema,
    displayName: z.string().optional(),
    language: z.string().optional(),
    identityName: z.string().optional(),
  }),
});
export type UserProfileUpdated = z.infer<typeof UserProfileUpdated>;

export const UserEvent = z.discriminatedUnion("type", [UserProfileUpdated]);
export type UserEvent = z.infer<typeof UserEvent>;

import { z } from "zod";
import { UserId } from "../ids.ts";

export const UserProfileUpdated = z.object({
  type: z.literal("UserProfileUpdated"),
  data: z.object({ userId: UserId.schema, displayName: z.string().optional(), language: z.string().optional() }),
});
export type UserProfileUpdated = z.infer<typeof UserProfileUpdated>;

export const UserEvent = z.discriminatedUnion("type", [UserProfileUpdated]);
export type UserEvent = z.infer<typeof UserEvent>;

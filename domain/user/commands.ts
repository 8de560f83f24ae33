import { z } from "zod";
import { NUL_REFUSED, fitsStores } from "../decider.ts";
import type { CommandMeta } from "../metadata.ts";

/** Longest display name, in characters. */
export const MAX_DISPLAY_NAME = 64;

/** A BCP 47 language tag of the common shapes: `en`, `pt-BR`, `zh-Hant-TW`, `es-419`. */
export const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-[A-Za-z0-9]{5,8})*$/;

/** The bodies of the user commands, besides `commandId`, keyed by action. */
export const userCommandBodies = {
  profile: z
    .strictObject({
      displayName: z.string().trim().min(1).max(MAX_DISPLAY_NAME).refine(fitsStores, NUL_REFUSED).optional(),
      language: z
        .string()
        .regex(LANGUAGE_TAG, { error: "language must be a BCP 47 tag such as en or pt-BR" })
        .optional(),
    })
    .refine((b) => b.displayName !== undefined || b.language !== undefined, {
      error: "give displayName, language or both",
    }),
  /** The name the user's identity gives, sent by natter's auth service (`svccmd.` only). */
  identity: z.strictObject({
    name: z.string().trim().min(1).max(MAX_DISPLAY_NAME).refine(fitsStores, NUL_REFUSED),
  }),
} as const;

type Bodies = typeof userCommandBodies;
export type UserAction = keyof Bodies;

/** A user command: its action, its validated body, and who issues it. */
export type UserCommand = {
  [A in UserAction]: { readonly type: A; readonly data: z.infer<Bodies[A]>; readonly meta: CommandMeta };
}[UserAction];

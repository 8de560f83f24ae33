import type { Msg } from "@nats-io/transport-node";
import { z } from "zod";
import { InvalidError } from "../domain/index.ts";
import { Operation } from "./operations.ts";

/**
 * The subject one running natter takes maintenance requests on. Only the replay service account
 * may publish or subscribe there (auth/permissions.ts); the instance's part keeps two natters on one
 * NATS apart.
 */
export const maintenanceSubject = (instance: string): string => `natter.replay.maintenance.${instance}`;

/** What the replay CLI sends: the operation, and the token from the runtime file that proves it may. */
export const MaintenanceRequest = z.object({ token: z.string().min(1), operation: Operation }).strict();
export type MaintenanceRequest = z.infer<typeof MaintenanceRequest>;

/** Why natter refused or failed a request: `usage` and `invalid` exit 2 in the CLI, the others 1. */
export const REFUSAL_CODES = ["usage", "invalid", "forbidden", "failed"] as const;

const progress = z.object({ phase: z.string(), applied: z.number(), seq: z.number(), pending: z.number() });

/**
 * What natter sends back to the request's inbox, in order: `accepted`, then any of `alive` (every
 * few seconds while it works), `note`, `bar` / `progress` / `barEnd`, then the result as `part`s
 * (its JSON, cut to fit the server's payload limit) and `done`, or one `error`.
 */
export const MaintenanceReply = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("accepted") }),
  z.object({ kind: z.literal("alive") }),
  z.object({ kind: z.literal("note"), line: z.string() }),
  z.object({ kind: z.literal("bar"), label: z.string() }),
  z.object({ kind: z.literal("progress"), progress }),
  z.object({ kind: z.literal("barEnd") }),
  z.object({ kind: z.literal("part"), data: z.string() }),
  z.object({ kind: z.literal("done"), code: z.number().int() }),
  z.object({ kind: z.literal("error"), code: z.enum(REFUSAL_CODES), message: z.string() }),
]);
export type MaintenanceReply = z.infer<typeof MaintenanceReply>;

/**
 * `text` cut into pieces that each fit a message of `maxPayload` bytes as a `part` reply: a UTF-16
 * unit takes at most 6 bytes in JSON (`\u001f`), whatever the text holds.
 */
export function partsOf(text: string, maxPayload: number): string[] {
  const size = Math.max(1, Math.floor((maxPayload - 64) / 6));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length === 0 ? [""] : out;
}

/** `m`'s JSON as `schema` reads it; anything else is an InvalidError whose message starts with `what`. */
export function decodeMessage<S extends z.ZodType>(m: Msg, schema: S, what: string): z.output<S> {
  let json: unknown;
  try {
    json = m.json();
  } catch {
    throw new InvalidError(`${what}: not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new InvalidError(`${what}: ${z.prettifyError(parsed.error).split("\n").join("; ")}`);
  return parsed.data;
}

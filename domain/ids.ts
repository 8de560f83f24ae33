import { z } from "zod";

/** The alphabet of every id that appears in a NATS subject: no dot, `*`, `>` or white space. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function companion<B extends string>(what: string) {
  const schema = z
    .string({ error: `${what} must be a string` })
    .regex(ID_PATTERN, { error: `${what} must be 1 to 64 of A-Z, a-z, 0-9, _ and -` })
    .brand<B>();
  type T = string & z.core.$brand<B>;
  return {
    schema,
    /** Parses `value` as this id, throwing a ZodError with the reason when it is not one. */
    parse: (value: unknown): T => schema.parse(value) as T,
    /** True when `value` is a valid id of this kind. */
    is: (value: unknown): value is T => schema.safeParse(value).success,
  };
}

export const UserId = companion<"UserId">("userId");
export type UserId = z.infer<typeof UserId.schema>;
export const RoomId = companion<"RoomId">("roomId");
export type RoomId = z.infer<typeof RoomId.schema>;
export const MessageId = companion<"MessageId">("messageId");
export type MessageId = z.infer<typeof MessageId.schema>;
export const CommandId = companion<"CommandId">("commandId");
export type CommandId = z.infer<typeof CommandId.schema>;

/** A position in the event log: the stream sequence of an event (0 means "none yet"). */
const streamSeqSchema = z.number().int().nonnegative().brand<"StreamSeq">();
export type StreamSeq = z.infer<typeof streamSeqSchema>;
export const StreamSeq = {
  schema: streamSeqSchema,
  parse: (value: unknown): StreamSeq => streamSeqSchema.parse(value),
  /** The sequence of an aggregate that has no event yet. */
  none: 0 as StreamSeq,
};

/**
 * Maps an OIDC `sub` claim to a user id. A `sub` that already fits the id alphabet (Keycloak's
 * UUIDs do) is kept as it is; any other is hex-encoded after the prefix `x_`, which no
 * UUID-shaped id starts with, so the mapping is stable, reversible and collision-free. A `sub`
 * too long for 64 characters after mapping is refused.
 *
 * @example userIdFromSub("f81d4fae-7dec-11d0-a765-00a0c91e6bf6") // the same string
 * @example userIdFromSub("alice@example.com") // "x_616c69636540..."
 */
export function userIdFromSub(sub: string): UserId {
  if (ID_PATTERN.test(sub) && !sub.startsWith("x_")) return sub as UserId;
  const hex = Array.from(new TextEncoder().encode(sub), (b) => b.toString(16).padStart(2, "0")).join("");
  return UserId.parse(`x_${hex}`);
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;

/**
 * The creation time (epoch milliseconds) a ULID carries in its first 10 characters, or undefined
 * when `id` is not a ULID.
 *
 * @example ulidTime("01ARZ3NDEKTSV4RRFFQ69G5FAV") // 1469922850259
 */
export function ulidTime(id: string): number | undefined {
  if (!ULID.test(id)) return undefined;
  let t = 0;
  for (const c of id.slice(0, 10).toUpperCase()) t = t * 32 + CROCKFORD.indexOf(c);
  return t;
}

import { z } from "zod";
import { ID_PATTERN, PRESENCE_STATUSES, ROOM_KINDS, ROOM_ROLES } from "../domain/index.ts";

/**
 * The read API's inputs and answers (docs/read-side.md). The handlers validate with these, and
 * the OpenAPI document is generated from them: one declaration for both.
 */

const id = z.string().regex(ID_PATTERN, "an id of letters, digits, _ and - (1 to 64)");
const seq = z.coerce.number().int().nonnegative();
/** Every query: wait until the projections it reads have applied this sequence. */
const minSeq = { minSeq: seq.optional() };
const roomRef = { roomId: id, ...minSeq };
const messageRef = { roomId: id, messageId: id, ...minSeq };

export const MAX_PAGE = 200;
export const DEFAULT_PAGE = 50;
export const MAX_SEARCH_QUERY = 200;

export const inputs = {
  rooms: z.object({ ...minSeq }),
  roomsPublic: z.object({ ...minSeq, limit: z.coerce.number().int().min(1).max(500).default(100) }),
  room: z.object(roomRef),
  messages: z
    .object({
      ...roomRef,
      before: seq.optional(),
      after: seq.optional(),
      /** A message id: the page is centred on it (jump to a search hit). */
      around: id.optional(),
      limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE),
    })
    .refine((q) => [q.before, q.after, q.around].filter((v) => v !== undefined).length <= 1, {
      message: "give at most one of before, after and around",
      path: ["before"],
    }),
  changes: z.object({ ...roomRef, after: seq, limit: z.coerce.number().int().min(1).max(5000).default(1000) }),
  thread: z.object(messageRef),
  history: z.object(messageRef),
  readBy: z.object(messageRef),
  bans: z.object(roomRef),
  markRead: z.object({ roomId: id, seq: z.number().int().positive(), ...minSeq }),
  search: z.object({
    ...minSeq,
    q: z.string().trim().min(1).max(MAX_SEARCH_QUERY),
    roomId: id.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  }),
  users: z
    .object({
      ...minSeq,
      /** Names that start with this (any case), or a user id. */
      q: z.string().trim().min(1).max(64).optional(),
      /** These users (comma-separated ids), for a client that meets ids it has no name for; those without a name are left out. */
      ids: z
        .preprocess(
          (v) => (typeof v === "string" ? v.split(",").filter((s) => s !== "") : v),
          z.array(id).min(1).max(200),
        )
        .optional(),
      limit: z.coerce.number().int().min(1).max(50).default(20),
    })
    .refine((q) => (q.q === undefined) !== (q.ids === undefined), { message: "give q or ids", path: ["q"] }),
  presence: z.object({
    ...minSeq,
    userIds: z.preprocess(
      (v) => (typeof v === "string" ? v.split(",").filter((s) => s !== "") : v),
      z.array(id).min(1).max(200),
    ),
  }),
  audit: z.object({
    ...minSeq,
    actor: id.optional(),
    roomId: id.optional(),
    type: z
      .string()
      .regex(/^[A-Za-z]{1,64}$/)
      .optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(200),
  }),
} as const;

/** One emoji's reactions: who, in the order they reacted, and the sequence of each reaction. Emojis come in the order of their earliest current reaction. */
const Reaction = z.object({
  emoji: z.string(),
  count: z.number().int(),
  userIds: z.array(z.string()),
  seqs: z.array(z.number().int()),
});

export const Message = z.object({
  messageId: z.string(),
  roomId: z.string(),
  seq: z.number().int(),
  authorId: z.string(),
  /** Empty when deleted. */
  body: z.string(),
  postedAt: z.string(),
  editedAt: z.string().nullable(),
  deleted: z.boolean(),
  reactions: z.array(Reaction),
  threadRootId: z.string().nullable(),
  replyCount: z.number().int(),
  lastReplyAt: z.string().nullable(),
  /** The sequence of the last event that changed it. */
  updatedSeq: z.number().int(),
});
export type Message = z.infer<typeof Message>;

const RoomSummary = z.object({
  roomId: z.string(),
  name: z.string(),
  kind: z.enum(ROOM_KINDS),
  topic: z.string(),
  archived: z.boolean(),
});
/** A member; `displayName` as their profile says (null until they set one). */
const Member = z.object({
  userId: z.string(),
  displayName: z.string().nullable(),
  role: z.enum(ROOM_ROLES),
  joinedSeq: z.number().int(),
});

export const outputs = {
  rooms: z.object({
    rooms: z.array(
      RoomSummary.extend({
        role: z.enum(ROOM_ROLES),
        unread: z.number().int(),
        mentions: z.number().int(),
        readSeq: z.number().int(),
        lastSeq: z.number().int(),
      }),
    ),
    /** Open invitations to the caller: the room's summary, and who invited. */
    invitations: z.array(
      RoomSummary.extend({ invitedBy: z.string(), invitedByName: z.string().nullable(), seq: z.number().int() }),
    ),
  }),
  roomsPublic: z.object({ rooms: z.array(RoomSummary.extend({ memberCount: z.number().int() })) }),
  room: z.object({
    room: RoomSummary.extend({ createdBy: z.string(), createdAt: z.string(), members: z.array(Member) }),
  }),
  messages: z.object({
    messages: z.array(Message),
    /** More messages exist before / after this page. */
    hasBefore: z.boolean(),
    hasAfter: z.boolean(),
  }),
  changes: z.object({
    messages: z.array(Message),
    /** Everything up to this sequence is in the answer: apply live events above it. */
    seq: z.number().int(),
    /** The answer was cut at `limit`: ask again after `seq`. */
    more: z.boolean(),
  }),
  thread: z.object({ root: Message, replies: z.array(Message), participants: z.array(z.string()) }),
  history: z.object({
    edits: z.array(
      z.object({
        seq: z.number().int(),
        body: z.string(),
        previousBody: z.string(),
        editedBy: z.string(),
        editedAt: z.string(),
      }),
    ),
  }),
  readBy: z.object({ userIds: z.array(z.string()) }),
  /** The bans in force, oldest first: who, their display name, who banned them, why, and the ban's sequence. */
  bans: z.object({
    bans: z.array(
      z.object({
        userId: z.string(),
        displayName: z.string().nullable(),
        bannedBy: z.string(),
        reason: z.string().nullable(),
        seq: z.number().int(),
      }),
    ),
  }),
  markRead: z.object({ roomId: z.string(), seq: z.number().int() }),
  search: z.object({
    hits: z.array(
      z.object({
        roomId: z.string(),
        messageId: z.string(),
        seq: z.number().int(),
        authorId: z.string(),
        rank: z.number(),
        highlight: z.string(),
        postedAt: z.string(),
      }),
    ),
  }),
  presence: z.object({ presence: z.record(z.string(), z.enum(PRESENCE_STATUSES)) }),
  users: z.object({ users: z.array(z.object({ userId: z.string(), displayName: z.string() })) }),
  audit: z.object({
    events: z.array(
      z.object({
        seq: z.number().int(),
        time: z.string(),
        type: z.string(),
        actor: z.string(),
        subject: z.string(),
        roomId: z.string().nullable(),
        commandId: z.string(),
        correlationId: z.string(),
        causationId: z.string(),
        payload: z.unknown(),
      }),
    ),
  }),
} as const;

export type QueryName = keyof typeof inputs;
export type Input<Q extends QueryName> = z.infer<(typeof inputs)[Q]>;
export type Output<Q extends QueryName> = z.infer<(typeof outputs)[Q]>;

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

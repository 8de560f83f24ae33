import type { NatsConnection } from "@nats-io/nats-core";
import { ulid } from "ulid";
import type { z } from "zod";
import type { ErrorCode, MessageAction, RoomAction, UserAction, PresenceStatus } from "../../domain/index.ts";
import type { messageCommandBodies } from "../../domain/message/commands.ts";
import type { roomCommandBodies } from "../../domain/room/commands.ts";
import type { userCommandBodies } from "../../domain/user/commands.ts";
import type { Output } from "../../read-api/schemas.ts";

export type { Output };

/** A refusal or failure, with the stable code of the server's replies (`invalid`, `forbidden`, … `unavailable`). */
export class ServerError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** The HTTP status, for a query. */
  readonly status: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown> | undefined; status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ServerError";
    this.code = code;
    this.details = options.details;
    this.status = options.status;
  }
}

/** The subject suffix of a command: `room.create`, `msg.post`, `user.profile`, … */
export type CommandName = `room.${RoomAction}` | `msg.${MessageAction}` | `user.${UserAction}`;

/** The body of a command besides `commandId`. */
export type CommandBody<C extends CommandName> = C extends `room.${infer A extends RoomAction}`
  ? z.input<(typeof roomCommandBodies)[A]>
  : C extends `msg.${infer A extends MessageAction}`
    ? z.input<(typeof messageCommandBodies)[A]>
    : C extends `user.${infer A extends UserAction}`
      ? z.input<(typeof userCommandBodies)[A]>
      : never;

/** What a command answers besides `seq`. */
export type CommandResult<C extends CommandName> = C extends "room.create"
  ? { roomId: string }
  : C extends "msg.post"
    ? { messageId: string; seq: number }
    : Record<string, never>;

/** A page request of a room's timeline: at most one of before, after and around. */
export type PageQuery = { before?: number; after?: number; around?: string; limit?: number; minSeq?: number };

/** Talks to the server: queries over HTTP, commands (and presence, typing) over NATS. */
export type Server = {
  rooms(minSeq?: number): Promise<Output<"rooms">>;
  publicRooms(minSeq?: number): Promise<Output<"roomsPublic">>;
  room(roomId: string, minSeq?: number): Promise<Output<"room">>;
  messages(roomId: string, page?: PageQuery): Promise<Output<"messages">>;
  changes(roomId: string, after: number): Promise<Output<"changes">>;
  thread(roomId: string, messageId: string, minSeq?: number): Promise<Output<"thread">>;
  history(roomId: string, messageId: string): Promise<Output<"history">>;
  readBy(roomId: string, messageId: string): Promise<Output<"readBy">>;
  /** A room's bans in force (its owners, moderators and admins only; others get `not_found`). */
  bans(roomId: string, minSeq?: number): Promise<Output<"bans">>;
  markRead(roomId: string, seq: number): Promise<Output<"markRead">>;
  users(q: string): Promise<Output<"users">>;
  /** The names of these users (those with none are left out), reflecting at least `minSeq`. */
  usersByIds(userIds: readonly string[], minSeq?: number): Promise<Output<"users">>;
  search(q: string, roomId?: string): Promise<Output<"search">>;
  presence(userIds: readonly string[]): Promise<Output<"presence">>;
  /**
   * Sends a command (`cmd.<uid>.<name>`, or `admincmd.` with `admin`) and answers its result and
   * `seq`, or throws a {@link ServerError}. A lost answer is asked again with the same commandId,
   * which the server applies once.
   */
  command<C extends CommandName>(
    name: C,
    body: CommandBody<C>,
    options?: { commandId?: string; admin?: boolean },
  ): Promise<{ result: CommandResult<C>; seq: number }>;
  /** A presence heartbeat (or `offline` goodbye) of this connection; false when not connected. */
  heartbeat(connectionId: string, status: PresenceStatus): boolean;
  /** Says the user is typing in a room; false when not connected. */
  typing(roomId: string): boolean;
};

/** What {@link createServer} needs. */
export type ServerSetup = {
  userId: string;
  /** The current access token. */
  token: () => string;
  /** Renews the token after a 401; resolves true when there is a fresh one. */
  renew?: () => Promise<boolean>;
  /** The NATS connection once online. */
  nats: { ready(timeoutMs?: number): Promise<NatsConnection>; current(): NatsConnection | null };
  /** Where the read API is (default: this origin). */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** How long a command waits for its answer before asking again, in ms (default 8 s). */
  commandTimeoutMs?: number;
};

const CODES: readonly ErrorCode[] = [
  "invalid",
  "unauthenticated",
  "forbidden",
  "not_found",
  "conflict",
  "rate_limited",
  "unavailable",
];
const asCode = (c: unknown): ErrorCode => (CODES.includes(c as ErrorCode) ? (c as ErrorCode) : "unavailable");
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The server of a signed-in user. */
export function createServer(setup: ServerSetup): Server {
  const base = setup.baseUrl ?? "";
  const doFetch = setup.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const timeout = setup.commandTimeoutMs ?? 8000;
  const uid = setup.userId;

  const http = async <T>(
    path: string,
    params: Record<string, string | number | undefined> = {},
    body?: unknown,
  ): Promise<T> => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
    const url = `${base}${path}${qs.size > 0 ? `?${qs}` : ""}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await doFetch(url, {
          method: body === undefined ? "GET" : "POST",
          headers: {
            authorization: `Bearer ${setup.token()}`,
            accept: "application/json",
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (err) {
        throw new ServerError("unavailable", "The server cannot be reached.", { cause: err });
      }
      if (res.status === 401 && attempt === 0 && setup.renew !== undefined && (await setup.renew())) continue;
      const data = (await res.json().catch(() => null)) as unknown;
      if (res.ok) return data as T;
      const e = (data as { error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } } | null)
        ?.error;
      throw new ServerError(
        asCode(e?.code),
        typeof e?.message === "string" ? e.message : `The server answered ${res.status}.`,
        { details: e?.details, status: res.status },
      );
    }
  };
  const room = (roomId: string): string => `/api/rooms/${encodeURIComponent(roomId)}`;
  const msg = (roomId: string, messageId: string): string =>
    `${room(roomId)}/messages/${encodeURIComponent(messageId)}`;

  const publish = (subject: string, data: unknown): boolean => {
    const nc = setup.nats.current();
    if (nc === null) return false;
    try {
      nc.publish(subject, enc.encode(JSON.stringify(data)));
      return true;
    } catch {
      return false;
    }
  };

  return {
    rooms: (minSeq) => http("/api/rooms", { minSeq }),
    publicRooms: (minSeq) => http("/api/rooms/public", { minSeq }),
    room: (roomId, minSeq) => http(room(roomId), { minSeq }),
    messages: (roomId, page = {}) => http(`${room(roomId)}/messages`, { ...page }),
    changes: (roomId, after) => http(`${room(roomId)}/changes`, { after }),
    thread: (roomId, messageId, minSeq) => http(`${room(roomId)}/threads/${encodeURIComponent(messageId)}`, { minSeq }),
    history: (roomId, messageId) => http(`${msg(roomId, messageId)}/history`),
    readBy: (roomId, messageId) => http(`${msg(roomId, messageId)}/read-by`),
    bans: (roomId, minSeq) => http(`${room(roomId)}/bans`, { minSeq }),
    markRead: (roomId, seq) => http(`${room(roomId)}/read`, {}, { seq }),
    search: (q, roomId) => http("/api/search", { q, roomId }),
    presence: (userIds) => http("/api/presence", { userIds: userIds.join(",") }),
    users: (q) => http("/api/users", { q }),
    usersByIds: (userIds, minSeq) => http("/api/users", { ids: userIds.join(","), minSeq: minSeq || undefined }),

    async command(name, body, options = {}) {
      const commandId = options.commandId ?? ulid();
      const subject = `${options.admin === true ? "admincmd" : "cmd"}.${uid}.${name}`;
      const payload = enc.encode(JSON.stringify({ ...body, commandId }));
      let lastErr: unknown;
      for (let attempt = 0; attempt < 3; attempt++) {
        let nc: NatsConnection;
        try {
          nc = await setup.nats.ready();
        } catch (err) {
          throw new ServerError("unavailable", "Not connected to the server.", { cause: err });
        }
        let reply: {
          ok: boolean;
          result?: unknown;
          seq?: number;
          error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> };
        };
        try {
          const m = await nc.request(subject, payload, { timeout });
          reply = JSON.parse(dec.decode(m.data)) as typeof reply;
        } catch (err) {
          // No answer (timeout, no responders, connection lost): the same commandId is safe to send again.
          lastErr = err;
          if (err instanceof Error && /permission/i.test(err.message))
            throw new ServerError("forbidden", "You may not do this.", { cause: err });
          continue;
        }
        if (reply.ok) return { result: (reply.result ?? {}) as CommandResult<typeof name>, seq: reply.seq ?? 0 };
        const e = reply.error;
        throw new ServerError(
          asCode(e?.code),
          typeof e?.message === "string" ? e.message : "The command was refused.",
          { details: e?.details },
        );
      }
      throw new ServerError("unavailable", "The server did not answer.", { cause: lastErr });
    },
    heartbeat: (connectionId, status) => publish(`presence.${uid}`, { connectionId, status }),
    typing: (roomId) => publish(`typing.${uid}.${roomId}`, {}),
  };
}

import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { z } from "zod";
import {
  EVENTS,
  ID_PATTERN,
  isEventType,
  upcast,
  type DomainEvent,
  type EventType,
  type StreamSeq,
} from "../domain/index.ts";
import { subjectOf } from "./subjects.ts";
import type { TraceContext } from "./trace.ts";

/** The headers of an event message (README, "How the write side works"). */
export const H = {
  type: "Natter-Type",
  schema: "Natter-Schema",
  actor: "Natter-Actor",
  command: "Natter-Command",
  correlation: "Natter-Correlation",
  causation: "Natter-Causation",
  traceparent: "traceparent",
  tracestate: "tracestate",
  msgId: "Nats-Msg-Id",
} as const;

/** Who and what caused an event: written to its headers. */
export type EventMeta = {
  /** The acting user id or service account. */
  actor: string;
  /** The id of the command that decided the event. */
  commandId: string;
  /** The id shared by everything one user action set off (the first command's id by default). */
  correlationId: string;
  /** The id of the message that caused this one (the command's id). */
  causationId: string;
  trace: TraceContext;
  /** The event's `Nats-Msg-Id` (default: messageIdFor(actor, commandId)). */
  msgId?: string;
};

/** An event ready to append: subject, JSON payload and headers. */
export type EncodedEvent = { subject: string; payload: Uint8Array; headers: MsgHdrs; msgId: string };

/** An event read back from the log, upcast to its newest shape. */
export type EventEnvelope = {
  seq: StreamSeq;
  subject: string;
  /** The stream's own timestamp of the append, ISO 8601. */
  time: string;
  type: EventType;
  /** The payload version it was stored with. */
  storedSchema: number;
  event: DomainEvent;
  actor: string;
  commandId: string;
  correlationId: string;
  causationId: string;
  traceparent: string | undefined;
  tracestate: string | undefined;
};

/** A stored event that natter cannot read: unknown type, bad headers or payload. */
export class EnvelopeError extends Error {
  constructor(
    message: string,
    readonly seq: number,
    options?: { cause?: unknown },
  ) {
    super(`event ${seq}: ${message}`, options);
    this.name = "EnvelopeError";
  }
}

/**
 * The `Nats-Msg-Id` of the event a command appends: unique per acting user and command id, so
 * JetStream drops a repeat of the same command within the duplicate window.
 */
export function messageIdFor(actor: string, commandId: string): string {
  return `${actor}:${commandId}`;
}

/**
 * The `Nats-Msg-Id` of a post: unique per room and message, whoever sends it, so a message id used
 * twice within the duplicate window is caught by the server however the command ids differ. (Ids
 * have no colon: this never equals an `<actor>:<commandId>`.)
 */
export function postMessageId(roomId: string, messageId: string): string {
  return `msg:${roomId}:${messageId}`;
}

const headerText = z.string().min(1).max(256);
const metaSchema = z.object({
  actor: z.string().regex(ID_PATTERN),
  commandId: z.string().regex(ID_PATTERN),
  correlationId: headerText,
  causationId: headerText,
});

/** Encodes a decided event for the log. Throws when the meta is not valid header material. */
export function encodeEvent(event: DomainEvent, meta: EventMeta): EncodedEvent {
  metaSchema.parse(meta);
  const h = natsHeaders();
  h.set(H.type, event.type);
  h.set(H.schema, String(EVENTS[event.type].version));
  h.set(H.actor, meta.actor);
  h.set(H.command, meta.commandId);
  h.set(H.correlation, meta.correlationId);
  h.set(H.causation, meta.causationId);
  h.set(H.traceparent, meta.trace.traceparent);
  if (meta.trace.tracestate) h.set(H.tracestate, meta.trace.tracestate);
  const msgId = meta.msgId ?? messageIdFor(meta.actor, meta.commandId);
  h.set(H.msgId, msgId);
  return {
    subject: subjectOf(event),
    payload: new TextEncoder().encode(JSON.stringify(event.data)),
    headers: h,
    msgId,
  };
}

const textDecoder = new TextDecoder();

/** Header names with their values: nats.js's MsgHdrs is one, headersOf's map another. */
export type HeaderPairs = Iterable<[string, string[]]>;

/** The parts of a stored message the codec reads (a StoredMsg of nats.js has them all). */
export type RawStoredMessage = {
  seq: number;
  subject: string;
  time: Date;
  header: MsgHdrs | HeaderPairs | undefined;
  data: Uint8Array;
};

/** The fields of nats.js's MsgImpl (inside a JsMsg) that hold the received bytes and the header length. */
type ReceivedBytes = { msg?: { _rdata?: unknown; _msg?: { hdr?: unknown } } };

/**
 * The headers of a message a JetStream consumer delivered, for decodeEvent, parsed straight from
 * the bytes received. `m.headers` builds nats.js's MsgHdrs, which for each header line copies the
 * list of names and computes a canonical name it does not use: about 5 KB of garbage and several
 * µs a message, the largest part of a projector's CPU after the database's. The result is what
 * `m.headers` holds (exact names, values trimmed, in order); anything unusual (no such fields in
 * another nats.js version, a status line) falls back to `m.headers`.
 */
export function headersOf(m: { readonly headers: MsgHdrs | undefined }): MsgHdrs | HeaderPairs | undefined {
  const raw = (m as ReceivedBytes).msg;
  const hdr = raw?._msg?.hdr;
  const bytes = raw?._rdata;
  if (typeof hdr !== "number" || !(bytes instanceof Uint8Array) || hdr > bytes.length) return m.headers;
  if (hdr < 0) return undefined;
  return parseHeaderBlock(textDecoder.decode(bytes.subarray(0, hdr))) ?? m.headers;
}

/** `NATS/1.0\r\nName: value\r\n...` as name → values, as MsgHdrsImpl.decode reads it; undefined when it has a status. */
function parseHeaderBlock(text: string): Map<string, string[]> | undefined {
  const first = text.indexOf("\r\n");
  if ((first < 0 ? text : text.slice(0, first)) !== "NATS/1.0") return undefined;
  const out = new Map<string, string[]>();
  if (first < 0) return out;
  for (let at = first + 2; at < text.length;) {
    let end = text.indexOf("\r\n", at);
    if (end < 0) end = text.length;
    const colon = text.indexOf(":", at);
    if (colon > -1 && colon < end) {
      const name = text.slice(at, colon);
      const value = text.slice(colon + 1, end).trim();
      const values = out.get(name);
      if (values === undefined) out.set(name, [value]);
      else values.push(value);
    }
    at = end + 2;
  }
  return out;
}

/** The headers decodeEvent reads, by name, as `MsgHdrs.get` (exact name, first value) answers. */
type ReadHeaders = {
  type: string;
  schema: string;
  actor: string;
  command: string;
  correlation: string;
  causation: string;
  traceparent: string;
  tracestate: string;
};
const READ: ReadonlyMap<string, keyof ReadHeaders> = new Map<string, keyof ReadHeaders>([
  [H.type, "type"],
  [H.schema, "schema"],
  [H.actor, "actor"],
  [H.command, "command"],
  [H.correlation, "correlation"],
  [H.causation, "causation"],
  [H.traceparent, "traceparent"],
  [H.tracestate, "tracestate"],
]);

/**
 * The headers an event carries, in one pass over them: each `MsgHdrs.get` copies and filters the
 * list of names, and eight of them were a third of decodeEvent's time.
 */
function readHeaders(h: MsgHdrs | HeaderPairs | undefined): ReadHeaders {
  const out: ReadHeaders = {
    type: "",
    schema: "",
    actor: "",
    command: "",
    correlation: "",
    causation: "",
    traceparent: "",
    tracestate: "",
  };
  if (h === undefined) return out;
  for (const [name, values] of h) {
    const k = READ.get(name);
    if (k !== undefined) out[k] = values[0] ?? "";
  }
  return out;
}

/**
 * Decodes an event delivered by a consumer (its stream sequence, subject, the stream's timestamp,
 * the headers as received and the payload), as decodeEvent does.
 */
export function decodeConsumed(m: {
  readonly seq: number;
  readonly subject: string;
  readonly info: { readonly timestampNanos: number };
  readonly headers: MsgHdrs | undefined;
  readonly data: Uint8Array;
}): EventEnvelope {
  return decodeEvent({
    seq: m.seq,
    subject: m.subject,
    time: new Date(Math.floor(m.info.timestampNanos / 1e6)),
    header: headersOf(m),
    data: m.data,
  });
}

/**
 * Decodes a stored event: checks its headers, upcasts its payload to the newest version and
 * validates it. Throws EnvelopeError naming the sequence and the reason.
 */
export function decodeEvent(m: RawStoredMessage): EventEnvelope {
  const h = readHeaders(m.header);
  const type = h.type;
  if (!isEventType(type)) throw new EnvelopeError(`unknown event type "${type}"`, m.seq);
  const storedSchema = Number(h.schema);
  let payload: unknown;
  try {
    payload = JSON.parse(textDecoder.decode(m.data));
  } catch (err) {
    throw new EnvelopeError(`${type}: payload is not JSON`, m.seq, { cause: err });
  }
  let event: DomainEvent;
  try {
    event = upcast(type, storedSchema, payload);
  } catch (err) {
    throw new EnvelopeError(`${type}: ${err instanceof Error ? err.message : String(err)}`, m.seq, { cause: err });
  }
  const commandId = h.command;
  return {
    seq: m.seq as StreamSeq,
    subject: m.subject,
    time: m.time.toISOString(),
    type,
    storedSchema,
    event,
    actor: h.actor,
    commandId,
    correlationId: h.correlation || commandId,
    causationId: h.causation || commandId,
    traceparent: h.traceparent || undefined,
    tracestate: h.tracestate || undefined,
  };
}

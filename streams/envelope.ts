import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { z } from "zod";
import { EVENTS, ID_PATTERN, isEventType, upcast, type DomainEvent, type EventType, type StreamSeq } from "../domain/index.ts";
import { subjectOf } from "./subjects.ts";
import type { TraceContext } from "./trace.ts";

/** The headers of an event message (DESIGN.md, "The event log"). */
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
  const msgId = messageIdFor(meta.actor, meta.commandId);
  h.set(H.msgId, msgId);
  return { subject: subjectOf(event), payload: new TextEncoder().encode(JSON.stringify(event.data)), headers: h, msgId };
}

/** The parts of a stored message the codec reads (a StoredMsg of nats.js has them all). */
export type RawStoredMessage = {
  seq: number;
  subject: string;
  time: Date;
  header: MsgHdrs | undefined;
  data: Uint8Array;
};

/**
 * Decodes a stored event: checks its headers, upcasts its payload to the newest version and
 * validates it. Throws EnvelopeError naming the sequence and the reason.
 */
export function decodeEvent(m: RawStoredMessage): EventEnvelope {
  const h = m.header;
  const type = h?.get(H.type) ?? "";
  if (!isEventType(type)) throw new EnvelopeError(`unknown event type "${type}"`, m.seq);
  const schemaText = h?.get(H.schema) ?? "";
  const storedSchema = Number(schemaText);
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(m.data));
  } catch (err) {
    throw new EnvelopeError(`${type}: payload is not JSON`, m.seq, { cause: err });
  }
  let event: DomainEvent;
  try {
    event = upcast(type, storedSchema, payload);
  } catch (err) {
    throw new EnvelopeError(`${type}: ${err instanceof Error ? err.message : String(err)}`, m.seq, { cause: err });
  }
  const commandId = h?.get(H.command) ?? "";
  return {
    seq: m.seq as StreamSeq,
    subject: m.subject,
    time: m.time.toISOString(),
    type,
    storedSchema,
    event,
    actor: h?.get(H.actor) ?? "",
    commandId,
    correlationId: h?.get(H.correlation) || commandId,
    causationId: h?.get(H.causation) || commandId,
    traceparent: h?.get(H.traceparent) || undefined,
    tracestate: h?.get(H.tracestate) || undefined,
  };
}

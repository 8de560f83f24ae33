import type { MsgHdrs } from "@nats-io/transport-node";
import { InvalidError } from "../domain/index.ts";
import { childTrace, H, type TraceContext } from "../streams/index.ts";

/** The longest `Natter-Correlation` accepted, in characters. */
export const MAX_CORRELATION = 256;
/** W3C trace context: `tracestate` carries at most 32 list members in at most 512 characters. */
export const MAX_TRACESTATE = 512;
export const MAX_TRACESTATE_MEMBERS = 32;

/** What a command's headers put into the event it appends. */
export type CopiedHeaders = {
  /** `Natter-Correlation`, when the sender set one. */
  correlationId: string | undefined;
  /** The event's trace context: a child of the sender's `traceparent`, or a new trace. */
  trace: TraceContext;
};

// W3C Trace Context, "tracestate" list members: a key (simple, or tenant@system) and a value of
// printable ASCII without "," and "=", not ending in a space.
const TRACESTATE_KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const CORRELATION = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

function refuse(header: string, problem: string): never {
  throw new InvalidError(`invalid ${header} header: ${problem}`, {
    details: { fields: [{ path: `headers.${header}`, message: problem, code: "invalid_header" }] },
  });
}

/** Why a `tracestate` value breaks W3C Trace Context, or undefined when it is valid. */
export function tracestateProblem(value: string): string | undefined {
  if (value.length > MAX_TRACESTATE) return `it is ${value.length} characters; at most ${MAX_TRACESTATE} are accepted`;
  const members = value
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "");
  if (members.length > MAX_TRACESTATE_MEMBERS)
    return `it has ${members.length} list members; at most ${MAX_TRACESTATE_MEMBERS} are accepted`;
  const keys = new Set<string>();
  for (const member of members) {
    const eq = member.indexOf("=");
    const key = eq < 0 ? member : member.slice(0, eq);
    if (eq < 0 || !TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1)))
      return `"${member.slice(0, 40)}" is not a key=value list member`;
    if (keys.has(key)) return `the key "${key}" appears twice`;
    keys.add(key);
  }
  return undefined;
}

/**
 * Checks the headers natter copies from a command into its event, which stays in the log for
 * good: `Natter-Correlation` is 1 to 256 printable ASCII characters, `tracestate` follows W3C
 * Trace Context (at most 512 characters and 32 members). Anything else is `invalid` with the
 * header named, before anything is read or appended. A malformed `traceparent` is not copied:
 * as W3C Trace Context says, the event starts a new trace (and drops `tracestate`).
 */
export function copiedHeaders(headers: MsgHdrs | undefined): CopiedHeaders {
  const correlation = headers?.get(H.correlation) || undefined;
  if (correlation !== undefined) {
    if (correlation.length > MAX_CORRELATION)
      refuse(H.correlation, `it is ${correlation.length} characters; at most ${MAX_CORRELATION} are accepted`);
    if (!CORRELATION.test(correlation))
      refuse(H.correlation, "only printable ASCII characters are accepted (no control characters, NUL or non-ASCII)");
  }
  const tracestate = headers?.get(H.tracestate) || undefined;
  if (tracestate !== undefined) {
    const problem = tracestateProblem(tracestate);
    if (problem !== undefined) refuse(H.tracestate, problem);
  }
  return { correlationId: correlation, trace: childTrace({ traceparent: headers?.get(H.traceparent), tracestate }) };
}

import { randomFillSync } from "node:crypto";

// Two getrandom calls per command showed up in profiles: draw ids from a pooled buffer instead.
const pool = Buffer.alloc(4096);
let offset = pool.length;
function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString("hex", offset, offset + bytes);
  offset += bytes;
  return hex;
}

/** A W3C trace context: the `traceparent` header and, when present, `tracestate`. */
export type TraceContext = { traceparent: string; tracestate?: string };

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** True when `value` is a valid version-00 `traceparent` (not all-zero ids). */
export function isTraceparent(value: string | undefined): value is string {
  if (value === undefined) return false;
  const m = TRACEPARENT.exec(value);
  return m !== null && !/^0+$/.test(m[1]!) && !/^0+$/.test(m[2]!);
}

/**
 * The context for a new span under `parent`: the same trace id and flags with a new span id, or
 * a new sampled trace when `parent` is absent or malformed. `tracestate` passes through unchanged.
 */
export function childTrace(parent?: {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}): TraceContext {
  const span = randomHex(8);
  const tp = parent?.traceparent;
  if (isTraceparent(tp)) {
    const [, traceId, , flags] = TRACEPARENT.exec(tp)!;
    const ctx: TraceContext = { traceparent: `00-${traceId}-${span}-${flags}` };
    if (parent?.tracestate) ctx.tracestate = parent.tracestate;
    return ctx;
  }
  return { traceparent: `00-${randomHex(16)}-${span}-01` };
}

/** The trace id of a valid `traceparent`, else undefined. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return isTraceparent(traceparent) ? TRACEPARENT.exec(traceparent)![1] : undefined;
}

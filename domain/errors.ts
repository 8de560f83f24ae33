/** The stable codes of a command or query refusal (README, "Sending commands"). */
export const ERROR_CODES = [
  "invalid",
  "unauthenticated",
  "forbidden",
  "not_found",
  "conflict",
  "rate_limited",
  "unavailable",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Field-level or other structured detail of a refusal, safe to show to the caller. */
export type ErrorDetails = Record<string, unknown>;

/**
 * The base of every error natter reports to a caller: a stable `code`, a message for people, and
 * optional `details`. Only the edges (command transport, HTTP) turn the code into a status.
 */
export abstract class NatterError extends Error {
  abstract readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(message: string, options: { details?: ErrorDetails; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }

  /** The error as the `error` member of a reply. */
  toJSON(): { code: ErrorCode; message: string; details?: ErrorDetails } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** The input is malformed or breaks a rule about its shape. */
export class InvalidError extends NatterError {
  readonly code = "invalid" as const;
}
/** No valid identity came with the request. */
export class UnauthenticatedError extends NatterError {
  readonly code = "unauthenticated" as const;
}
/** The actor may not do this. */
export class ForbiddenError extends NatterError {
  readonly code = "forbidden" as const;
}
/** The thing named does not exist (or the actor may not know it does). */
export class NotFoundError extends NatterError {
  readonly code = "not_found" as const;
}
/** The state changed under the decision, or the command clashes with the current state. */
export class ConflictError extends NatterError {
  readonly code = "conflict" as const;
}
/** Too many requests from this actor; `details.retryAfterMs` says when to try again. */
export class RateLimitedError extends NatterError {
  readonly code = "rate_limited" as const;
}
/** A dependency is down or overloaded; the caller may retry. */
export class UnavailableError extends NatterError {
  readonly code = "unavailable" as const;
}

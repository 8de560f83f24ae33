import { UnauthenticatedError, UnavailableError } from "../domain/index.ts";

/** Why a token was refused: a stable code for logs, metrics and tests. */
export const TOKEN_REJECTION_REASONS = [
  /** Not a compact JWS with a JSON header and a JSON object payload (empty, garbage, 2 parts, too long). */
  "malformed",
  /** The header's `alg` is not on the allow-list (`none`, any HMAC, anything not asymmetric). */
  "alg_not_allowed",
  /** No key of the issuer's JWKS has the token's `kid`, even after a refetch. */
  "unknown_kid",
  /** The signature does not verify with the issuer's key (tampered, or signed by another key). */
  "bad_signature",
  /** `iss` is not exactly the configured issuer. */
  "wrong_issuer",
  /** Neither `aud` contains the configured audience nor `azp` equals it. */
  "wrong_audience",
  /** `exp` is past, beyond the leeway. */
  "expired",
  /** `nbf` is in the future, beyond the leeway. */
  "not_yet_valid",
  /** The token has no `exp`: natter accepts no token that never expires. */
  "no_expiry",
  /** Not an access token: payload `typ` is not `Bearer` (an ID or refresh token), or the header `typ` is foreign. */
  "not_access_token",
  /** No `sub`, or not a non-empty string. */
  "no_subject",
  /** `sub` cannot be mapped to a user id (ids match `^[A-Za-z0-9_-]{1,64}$`): too long once mapped. */
  "bad_subject",
] as const;
export type TokenRejectionReason = (typeof TOKEN_REJECTION_REASONS)[number];

/**
 * A bearer token natter will not accept. `reason` says why, as a stable code; the message is
 * safe to show to the caller and never contains the token.
 */
export class TokenRejectedError extends UnauthenticatedError {
  readonly reason: TokenRejectionReason;

  constructor(reason: TokenRejectionReason, message: string, options: { cause?: unknown } = {}) {
    super(message, { details: { reason }, ...options });
    this.reason = reason;
  }
}

/**
 * The issuer's discovery document or JWKS could not be fetched (down, timeout, not JSON): the
 * token was not judged, and the caller may retry. `reason` is always `issuer_unavailable`.
 */
export class IssuerUnavailableError extends UnavailableError {
  readonly reason = "issuer_unavailable" as const;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { details: { reason: "issuer_unavailable" }, ...options });
  }
}

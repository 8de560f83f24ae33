export { IssuerUnavailableError, TOKEN_REJECTION_REASONS, TokenRejectedError } from "./errors.ts";
export type { TokenRejectionReason } from "./errors.ts";
export { ASYMMETRIC_ALGORITHMS, MAX_LEEWAY_SECONDS, createTokenVerifier } from "./tokenVerifier.ts";
export type {
  AsymmetricAlgorithm,
  RealmRole,
  TokenVerifier,
  TokenVerifierOptions,
  VerifiedToken,
} from "./tokenVerifier.ts";
export { startDevIdp } from "./devIdp.ts";
export type { DevIdp, DevIdpOptions } from "./devIdp.ts";
export { BUILT_IN_USERS, subjectFor } from "./devIdpUsers.ts";
export type { DevUser } from "./devIdpUsers.ts";
export { AUTH_CALLOUT_SUBJECT, CHAT_ACCOUNT, startAuthCallout } from "./callout.ts";
export { identityNameOf, identityNames } from "./identityNames.ts";
export type { IdentityNames, IdentityNamesOptions } from "./identityNames.ts";
export type { AuthCallout, AuthCalloutOptions, CheckedToken, TokenCheck } from "./callout.ts";
export { createAuthKeys, keysFile, loadOrCreateAuthKeys, SERVICE_NAMES } from "./keys.ts";
export type { AuthKeys, ServiceName } from "./keys.ts";
export { NATS_MAX_PAYLOAD, natsAuthConfig } from "./natsConfig.ts";
export type { NatsAuthConfigOptions } from "./natsConfig.ts";
export {
  serviceInboxPrefix,
  servicePermissions,
  USER_MAX_PAYLOAD,
  USER_MAX_SUBS,
  userInboxPrefix,
  userPermissions,
} from "./permissions.ts";

import type { AuthKeys } from "./keys.ts";

/**
 * The largest message any connection may publish, for the server's `max_payload`. nats-server does
 * not apply a user JWT's payload limit to callout users, so this is the limit users meet: 64 KiB,
 * a command's own limit.
 */
export const NATS_MAX_PAYLOAD = 64 * 1024;

export type NatsAuthConfigOptions = {
  /** Origins a browser may open the NATS WebSocket from (e.g. http://localhost:8080). */
  allowedOrigins?: readonly string[];
  /** The most client connections the server takes. */
  maxConnections?: number;
  /** The HTTP monitoring port, on loopback only; undefined for none. */
  monitorPort?: number;
};

/**
 * The accounts and authorization part of the embedded nats-server's configuration: the AUTH
 * account (the callout's own user, by nkey), CHAT (everything natter does, with JetStream) and
 * SYS; the auth callout with its issuer account key and xkey; limits; monitoring on loopback. It
 * holds public keys only.
 */
export function natsAuthConfig(keys: AuthKeys, options: NatsAuthConfigOptions = {}): string {
  const callout = keys.callout.getPublicKey();
  const lines = [
    `accounts {`,
    `  AUTH { users: [ { nkey: ${callout} } ] }`,
    `  CHAT { jetstream: enabled }`,
    `  SYS {}`,
    `}`,
    `system_account: SYS`,
    `authorization {`,
    `  timeout: 5`,
    `  auth_callout {`,
    `    issuer: ${keys.issuer.getPublicKey()}`,
    `    auth_users: [ ${callout} ]`,
    `    account: AUTH`,
    `    xkey: ${keys.xkey.getPublicKey()}`,
    `  }`,
    `}`,
    `max_connections: ${options.maxConnections ?? 20000}`,
    `max_control_line: 32KB`,
    `ping_interval: "20s"`,
  ];
  if (options.monitorPort !== undefined) lines.push(`http: "127.0.0.1:${options.monitorPort}"`);
  return lines.join("\n");
}

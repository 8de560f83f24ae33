import { connect, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { isSupportedNatsVersion, unsupportedVersionMessage } from "./natsServer.ts";

/** How a natter part proves who it is to NATS: a service account's nkey seed and its inbox prefix. */
export type ServiceCredentials = { seed: Uint8Array; inboxPrefix: string };

/**
 * Connects to NATS for a natter part and refuses a server older than 2.12 with a message that
 * says why. Async stack traces are off (they cost about a third of the client's CPU). With
 * `credentials`, the part signs in as its service account (the auth callout checks the nkey).
 */
export async function connectNats(
  url: string,
  options: Partial<ConnectionOptions> & { credentials?: ServiceCredentials } = {},
): Promise<NatsConnection> {
  const { credentials, ...rest } = options;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.split(",").map((s) => s.trim()),
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      ...(credentials
        ? { authenticator: nkeyAuthenticator(credentials.seed), inboxPrefix: credentials.inboxPrefix }
        : {}),
      ...rest,
    });
  } catch (err) {
    const message = (err as Error).message;
    const hint = /Authorization Violation/i.test(message)
      ? " (the server requires credentials: set NATS_NKEY_SEED_FILE to this part's service key)"
      : "";
    throw new Error(`cannot connect to NATS at ${url}: ${message}${hint}`, { cause: err });
  }
  const version = nc.info?.version ?? "unknown";
  if (!isSupportedNatsVersion(version)) {
    await nc.close();
    throw new Error(unsupportedVersionMessage(version));
  }
  return nc;
}

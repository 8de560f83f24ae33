/**
 * What the client learns from the server at start (`GET /config.json`, served by `npm start`
 * beside the page). The same shape as webServer.ts `WebConfig`, checked here because it crosses
 * the wire.
 */
export type WebConfig = Readonly<{
  /** The OIDC issuer the browser signs in at. */
  issuer: string;
  /** The public OIDC client, `natter-web`. */
  clientId: string;
  /** NATS over WebSocket, as the browser reaches it. */
  natsWsUrl: string;
  /** The longest message body, in characters. */
  maxBody: number;
  /** How often to send presence heartbeats (the server's NATTER_PRESENCE_HEARTBEAT_MS). */
  presenceHeartbeatMs: number;
}>;

/** The heartbeat interval when the server does not say (the server's default). */
export const DEFAULT_HEARTBEAT_MS = 10_000;

/**
 * Checks a `/config.json` answer, filling what an older server leaves out; throws an Error that
 * names the bad field.
 *
 * @example parseConfig({ issuer: "http://localhost:8080/realms/natter", clientId: "natter-web", natsWsUrl: "ws://localhost:9222", maxBody: 8000 })
 */
export function parseConfig(raw: unknown): WebConfig {
  if (typeof raw !== "object" || raw === null) throw new Error("config.json is not an object");
  const r = raw as Record<string, unknown>;
  const text = (k: string): string => {
    const v = r[k];
    if (typeof v !== "string" || v === "") throw new Error(`config.json: ${k} must be a non-empty string`);
    return v;
  };
  const count = (k: string, fallback: number): number => {
    const v = r[k] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
      throw new Error(`config.json: ${k} must be a positive integer`);
    return v;
  };
  return Object.freeze({
    issuer: text("issuer"),
    clientId: text("clientId"),
    natsWsUrl: text("natsWsUrl"),
    maxBody: count("maxBody", 8000),
    presenceHeartbeatMs: count("presenceHeartbeatMs", DEFAULT_HEARTBEAT_MS),
  });
}

/** Fetches and checks `/config.json` from the page's own origin. */
export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<WebConfig> {
  const res = await fetchImpl("/config.json", { headers: { accept: "application/json" }, cache: "no-store" });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  return parseConfig(await res.json());
}

/** Where browsers open natter (`npm start`'s one HTTP port), and what follows from it. */
export type WebOrigins = Readonly<{
  /** The origin natter names itself by: the public URL when one is set, else `http://localhost:<port>`. */
  primary: string;
  /** Every origin natter is served at: the public URL's, then localhost, 127.0.0.1 and [::1] on the port. */
  all: readonly string[];
  /** The development identity provider's issuer: under the primary origin, as browsers reach it. */
  issuer: string;
  /** The redirect URIs of the web client: `/` and `/callback` on each origin, and the Vite dev server's. */
  redirectUris: readonly string[];
}>;

/** The development identity provider's path under the port. */
export const IDP_PATH = "/realms/natter";

/** `npm run web:dev` (Vite, proxying to a running `npm start`) signs in from here. */
const DEV_SERVER = "http://localhost:5173";

/**
 * The origins natter is served at on `port`, with `publicUrl` (NATTER_PUBLIC_URL, an origin) first
 * when set. Only these: a redirect URI or a WebSocket origin elsewhere is refused.
 *
 * @example webOrigins(8080).all // ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"]
 * @example webOrigins(8080, "https://chat.example.com").issuer // "https://chat.example.com/realms/natter"
 */
export function webOrigins(port: number, publicUrl?: string): WebOrigins {
  const loopback = ["localhost", "127.0.0.1", "[::1]"].map((host) => `http://${host}:${port}`);
  const all = [...new Set([...(publicUrl === undefined ? [] : [new URL(publicUrl).origin]), ...loopback])];
  const primary = all[0]!;
  const redirectUris = [...all, DEV_SERVER].flatMap((o) => [`${o}/`, `${o}/callback`]);
  return Object.freeze({
    primary,
    all: Object.freeze(all),
    issuer: `${primary}${IDP_PATH}`,
    redirectUris: Object.freeze(redirectUris),
  });
}

/**
 * The NATS WebSocket URL browsers are given when NATTER_PUBLIC_WS_URL is not set: the embedded
 * server's port on the public URL's host (`wss:` for an `https:` one, whose proxy must then pass
 * that port through with TLS), else on localhost.
 *
 * @example defaultWsUrl(9222) // "ws://localhost:9222"
 */
export function defaultWsUrl(wsPort: number, publicUrl?: string): string {
  if (publicUrl === undefined) return `ws://localhost:${wsPort}`;
  const u = new URL(publicUrl);
  return `${u.protocol === "https:" ? "wss" : "ws"}://${u.hostname}:${wsPort}`;
}

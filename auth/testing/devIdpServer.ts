import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { startDevIdp } from "../devIdp.ts";
import type { DevIdp, DevIdpOptions } from "../devIdp.ts";

/** The development IdP mounted the way natter mounts it: a node http server routing `/realms/natter/*` to `handle`. */
export interface DevIdpServer {
  idp: DevIdp;
  issuer: string;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Requests served, by path (no query). */
  requests: Map<string, number>;
  /** The token endpoint's JSON answer to a password grant (status included). */
  passwordGrant(
    username: string,
    password: string,
    extra?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** An access token from the password grant for `natter-cli`; throws when refused. */
  accessToken(username: string, password: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts the development IdP on a free loopback port (the issuer is `http://127.0.0.1:<port>/realms/natter`). */
export async function startDevIdpServer(
  options: Omit<DevIdpOptions, "issuer" | "log"> & { log?: DevIdpOptions["log"] },
): Promise<DevIdpServer> {
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const requests = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (handle && path.startsWith("/realms/natter/")) handle(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${origin}/realms/natter`;
  const idp = await startDevIdp({ ...options, issuer, log: options.log ?? pino({ level: "silent" }) });
  handle = idp.handle;

  const passwordGrant: DevIdpServer["passwordGrant"] = async (username, password, extra = {}) => {
    const res = await fetch(idp.tokenEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", client_id: "natter-cli", username, password, ...extra }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return {
    idp,
    issuer,
    origin,
    requests,
    passwordGrant,
    async accessToken(username, password) {
      const { status, body } = await passwordGrant(username, password);
      if (status !== 200 || typeof body["access_token"] !== "string")
        throw new Error(`password grant for ${username} refused: ${status} ${JSON.stringify(body)}`);
      return body["access_token"];
    },
    async close() {
      await idp.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Logger } from "pino";
import { DevIdpKeyFile, loadOrCreateCookieKeys } from "./devIdpKeys.ts";
import type { PrivateSigningJwk } from "./devIdpKeys.ts";
import { errorPage, loginPage } from "./devIdpPages.ts";
import { createDevProvider, grantEverything, ROUTES } from "./devIdpProvider.ts";
import { FailedLogins, type FailedLoginLimits } from "./failedLogins.ts";
import type { DevProviderSetup } from "./devIdpProvider.ts";
import { DevIdpStore } from "./devIdpStore.ts";
import { DevUserDirectory } from "./devIdpUsers.ts";

export interface DevIdpOptions {
  /** natter's data folder; keys live in `<dataDir>/idp/`. */
  dataDir: string;
  /** The issuer URL, e.g. `http://localhost:8080/realms/natter`; its path is where the caller routes requests to `handle`. */
  issuer: string;
  /** A JSON file of more users, `[{ "username", "password", "roles": [] }]` (load tests). Default: the built-in users only. */
  usersFile?: string | undefined;
  /** Wrong passwords allowed per user and per address (default 30, then one every 30 s; 60, then one every 15 s); past them, attempts are refused unchecked. */
  failedLogins?: FailedLoginLimits;
  /** Where the banner, logins and errors are logged (never a token or password). */
  log: Logger;
  /** The redirect URIs `natter-web` may use. Default: `<issuer origin>/` and `<issuer origin>/callback`. */
  redirectUris?: readonly string[] | undefined;
  /** The `aud` of access tokens. Default `natter`. */
  audience?: string | undefined;
  /** Access token lifetime, seconds. Default 300 (Keycloak's 5 minutes). */
  accessTokenTtlSeconds?: number | undefined;
  /** Refresh token, grant and login session lifetime, seconds. Default 28 800 (8 hours). */
  refreshTokenTtlSeconds?: number | undefined;
}

const DEFAULTS = {
  audience: "natter",
  accessTokenTtlSeconds: 300,
  refreshTokenTtlSeconds: 8 * 3600,
} as const;

/** The development identity provider, mounted by its caller under the issuer's path. */
export interface DevIdp {
  /** The issuer, as tokens carry it in `iss`. */
  readonly issuer: string;
  /** Where the public signing keys are published (also named by the discovery document). */
  readonly jwksUri: string;
  /** The token endpoint (also named by the discovery document). */
  readonly tokenEndpoint: string;
  /** A node http handler for requests whose path is under the issuer's path; anything else gets 404. Give it the request untouched (its body unread). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Makes a new signing key that signs from now on; the previous one stays published, older ones are dropped. */
  rotateKeys(): Promise<void>;
  /** Stops serving (503 from then on) and forgets sessions and tokens. */
  close(): Promise<void>;
}

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/login|\/abort)?$/;
const MAX_FORM_BYTES = 8 * 1024;

/**
 * Starts the development identity provider (oidc-provider), the stand-in for Keycloak when
 * OIDC_ISSUER is unset: users alice, bob and charlie (and a users file), a login page, the code
 * flow with PKCE (S256) for `natter-web`, the password grant for `natter-cli`, refresh tokens,
 * and Keycloak-shaped JWT access tokens. Its signing keys live in `<dataDir>/idp/jwks.json`.
 *
 * @example
 * const idp = await startDevIdp({ dataDir: "./data", issuer: "http://localhost:8080/realms/natter", log });
 * http.createServer((req, res) => req.url?.startsWith("/realms/natter/") ? idp.handle(req, res) : app(req, res));
 */
export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const { dataDir, log } = options;
  const issuer = options.issuer.replace(/\/+$/, "");
  const issuerUrl = new URL(issuer);
  const prefix = issuerUrl.pathname.replace(/\/+$/, "");
  const audience = options.audience ?? DEFAULTS.audience;
  const accessTtl = options.accessTokenTtlSeconds ?? DEFAULTS.accessTokenTtlSeconds;
  const refreshTtl = options.refreshTokenTtlSeconds ?? DEFAULTS.refreshTokenTtlSeconds;
  // The web client on this origin, and its development server (npm run web:dev) on port 5173.
  const redirectUris = [
    ...(options.redirectUris ?? [
      `${issuerUrl.origin}/`,
      `${issuerUrl.origin}/callback`,
      "http://localhost:5173/",
      "http://localhost:5173/callback",
    ]),
  ];
  if (issuerUrl.protocol !== "http:" && issuerUrl.protocol !== "https:")
    throw new Error(`development IdP: the issuer must be an http(s) URL, got ${issuer}`);
  for (const [name, v] of [
    ["accessTokenTtlSeconds", accessTtl],
    ["refreshTokenTtlSeconds", refreshTtl],
  ] as const) {
    if (!Number.isInteger(v) || v < 10)
      throw new RangeError(`development IdP: ${name} must be an integer of at least 10, got ${v}`);
  }

  const idpDir = join(dataDir, "idp");
  const keyFile = new DevIdpKeyFile(idpDir, log);
  let keys = await keyFile.loadOrCreate();
  const cookieKeys = await loadOrCreateCookieKeys(idpDir, log);
  const users = await DevUserDirectory.load(options.usersFile);
  const store = new DevIdpStore();

  log.warn(
    { issuer, users: users.size, keys: idpDir },
    "DEVELOPMENT identity provider: for development and tests only, never for production (set OIDC_ISSUER to use Keycloak)",
  );

  const logins = new FailedLogins(options.failedLogins);
  const setup: DevProviderSetup = {
    issuer,
    prefix,
    audience,
    accessTtl,
    refreshTtl,
    redirectUris,
    users,
    store,
    cookieKeys,
    logins,
    log,
  };
  const build = (signingKeys: readonly PrivateSigningJwk[]) => {
    const provider = createDevProvider(setup, signingKeys);
    return { provider, callback: provider.callback() };
  };
  let current = build(keys);
  let closed = false;
  let rotating: Promise<void> = Promise.resolve();

  async function interaction(
    req: IncomingMessage,
    res: ServerResponse,
    uid: string,
    action: string | undefined,
  ): Promise<void> {
    const { provider } = current;
    let details: Awaited<ReturnType<typeof provider.interactionDetails>>;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return sendHtml(
        res,
        400,
        errorPage(
          "Sign-in expired",
          "This sign-in has expired or was already used. Go back to natter and sign in again.",
        ),
      );
    }
    if (details.uid !== uid) {
      return sendHtml(
        res,
        400,
        errorPage(
          "Sign-in expired",
          "This sign-in does not match your browser's. Go back to natter and sign in again.",
        ),
      );
    }
    const base = `${prefix}/interaction/${uid}`;
    const clientId = typeof details.params["client_id"] === "string" ? details.params["client_id"] : "natter";
    if (action === undefined) {
      if (req.method !== "GET" && req.method !== "HEAD")
        return sendHtml(res, 405, errorPage("Not allowed", "Use the form."));
      if (details.prompt.name === "login") {
        return sendHtml(res, 200, loginPage({ action: `${base}/login`, abortAction: `${base}/abort`, clientId }));
      }
      // Consent is normally settled by loadExistingGrant; should it be asked, natter's own clients get it all.
      const accountId = details.session?.accountId;
      const found = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
      const grant = found ?? new provider.Grant({ accountId, clientId });
      grantEverything(grant);
      return provider.interactionFinished(
        req,
        res,
        { consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: true },
      );
    }
    if (req.method !== "POST") return sendHtml(res, 405, errorPage("Not allowed", "Use the form."));
    if (action === "/abort") {
      return provider.interactionFinished(
        req,
        res,
        { error: "access_denied", error_description: "the user cancelled the sign-in" },
        { mergeWithLastSubmission: false },
      );
    }
    const form = await readForm(req);
    const username = form.get("username") ?? "";
    const address = req.socket.remoteAddress ?? "?";
    const wait = logins.blocked(username, address, Date.now());
    if (wait > 0) {
      log.warn(
        { client: clientId, username: username.slice(0, 64), address },
        "development IdP: login refused unchecked (too many wrong passwords)",
      );
      const error = `Too many wrong passwords for this user or address. Try again in ${Math.ceil(wait / 1000)} s.`;
      return sendHtml(
        res,
        429,
        loginPage({ action: `${base}/login`, abortAction: `${base}/abort`, clientId, username, error }),
      );
    }
    const user = users.authenticate(username, form.get("password") ?? "");
    if (!user) logins.failed(username, address, Date.now());
    if (!user) {
      log.info(
        { client: clientId, username: username.slice(0, 64) },
        "development IdP: login refused (invalid user credentials)",
      );
      return sendHtml(
        res,
        401,
        loginPage({
          action: `${base}/login`,
          abortAction: `${base}/abort`,
          clientId,
          username,
          error: "Invalid username or password.",
        }),
      );
    }
    log.info({ client: clientId, sub: user.id, username: user.username }, "development IdP: login");
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.id } },
      { mergeWithLastSubmission: false },
    );
  }

  const tokenEndpoint = `${issuer}${ROUTES.token}`;
  return {
    issuer,
    jwksUri: `${issuer}${ROUTES.jwks}`,
    tokenEndpoint,
    handle(req, res) {
      if (closed)
        return void sendHtml(res, 503, errorPage("Unavailable", "The development identity provider is stopped."));
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const path = q === -1 ? url : url.slice(0, q);
      if (path !== prefix && !path.startsWith(`${prefix}/`))
        return void sendHtml(res, 404, errorPage("Not found", "No such page."));
      const rest = url.slice(prefix.length) || "/";
      const m = INTERACTION_PATH.exec(path.slice(prefix.length));
      if (m) {
        interaction(req, res, m[1] as string, m[2]).catch((err: unknown) => {
          log.error({ err }, "development IdP: interaction failed");
          if (!res.headersSent)
            sendHtml(
              res,
              500,
              errorPage("Sign-in failed", "Something went wrong. Go back to natter and sign in again."),
            );
          else res.end();
        });
        return;
      }
      // oidc-provider derives its mount path from originalUrl minus url; without it, discovery and jwks_uri lose the prefix.
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
      req.url = rest;
      void current.callback(req, res);
    },
    rotateKeys() {
      rotating = rotating
        .catch(() => undefined)
        .then(async () => {
          keys = await keyFile.rotate(keys);
          current = build(keys);
          log.info({ kid: keys[0]?.kid, published: keys.map((k) => k.kid) }, "development IdP: signing key rotated");
        });
      return rotating;
    },
    async close() {
      closed = true;
      await rotating.catch(() => undefined);
      store.close();
    },
  };
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "content-length": Buffer.byteLength(html),
  });
  res.end(html);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) return new URLSearchParams();
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

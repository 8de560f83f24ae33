import Provider, { errors } from "oidc-provider";
import type { Account, Configuration, KoaContextWithOIDC, ResourceServer } from "oidc-provider";
import type { Logger } from "pino";
import type { FailedLogins } from "./failedLogins.ts";
import type { PrivateSigningJwk } from "./devIdpKeys.ts";
import { errorPage } from "./devIdpPages.ts";
import type { DevIdpStore } from "./devIdpStore.ts";
import type { DevUser, DevUserDirectory } from "./devIdpUsers.ts";

/** The resource indicator of natter's API: an absolute URI, as oidc-provider requires; tokens still say `aud: "natter"`. */
const RESOURCE = "urn:natter:api";
const OIDC_SCOPES = "openid profile offline_access";
const SUPPORTED_SCOPES = ["openid", "profile", "offline_access"];
/** Keycloak's endpoint paths under the realm, so clients written for Keycloak find the same URLs. */
export const ROUTES = {
  authorization: "/protocol/openid-connect/auth",
  token: "/protocol/openid-connect/token",
  jwks: "/protocol/openid-connect/certs",
  userinfo: "/protocol/openid-connect/userinfo",
  end_session: "/protocol/openid-connect/logout",
  revocation: "/protocol/openid-connect/revoke",
  introspection: "/protocol/openid-connect/token/introspect",
} as const;

/** Grants all that natter's realm offers: its OpenID scopes, and the same scopes for natter's API. */
export function grantEverything(grant: InstanceType<Provider["Grant"]>): void {
  grant.addOIDCScope(OIDC_SCOPES);
  grant.addResourceScope(RESOURCE, OIDC_SCOPES);
}

type ResourceServerClass = new (identifier: string, info: ResourceServer) => ResourceServer;

/** What the development IdP's oidc-provider is made of, besides its signing keys. */
export interface DevProviderSetup {
  issuer: string;
  /** The issuer's path (`/realms/natter`), where the interaction pages live too. */
  prefix: string;
  audience: string;
  accessTtl: number;
  refreshTtl: number;
  redirectUris: string[];
  users: DevUserDirectory;
  store: DevIdpStore;
  cookieKeys: string[];
  /** Wrong passwords per user and address: past the limit, attempts are refused unchecked. */
  logins: FailedLogins;
  log: Logger;
}

/**
 * An oidc-provider configured like natter's Keycloak realm, signing with `signingKeys[0]` and
 * publishing all of them. A key rotation builds a new one over the same store.
 */
export function createDevProvider(setup: DevProviderSetup, signingKeys: readonly PrivateSigningJwk[]): Provider {
  const { issuer, prefix, audience, accessTtl, refreshTtl, redirectUris, users, store, cookieKeys, logins, log } =
    setup;

  const resourceServerInfo = (): ResourceServer => ({
    scope: OIDC_SCOPES,
    audience,
    accessTokenTTL: accessTtl,
    accessTokenFormat: "jwt",
    jwt: { sign: { alg: "RS256", kid: signingKeys[0]?.kid } },
  });

  const account = (user: DevUser): Account => ({
    accountId: user.id,
    claims: () => ({ sub: user.id, preferred_username: user.username, name: user.username }),
  });

  /** Keycloak's direct access grant: `grant_type=password&client_id=natter-cli&username=…&password=…`. */
  async function passwordGrant(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    const params = (ctx.oidc.params ?? {}) as Record<string, unknown>;
    const client = ctx.oidc.client;
    const username = params["username"];
    const password = params["password"];
    if (!client) throw new errors.InvalidClient("client authentication failed");
    if (typeof username !== "string" || !username || typeof password !== "string" || !password) {
      throw new errors.InvalidRequest("username and password are required");
    }
    const address = ctx.req.socket.remoteAddress ?? "?";
    const wait = logins.blocked(username, address, Date.now());
    if (wait > 0) {
      log.warn(
        { client: client.clientId, username: username.slice(0, 64), address },
        "development IdP: password grant refused unchecked (too many wrong passwords)",
      );
      // Keycloak answers a locked-out user's password grant with invalid_grant too; the description says why.
      throw new errors.CustomOIDCProviderError(
        "invalid_grant",
        `too many wrong passwords for this user or address: try again in ${Math.ceil(wait / 1000)} s`,
      );
    }
    const user = users.authenticate(username, password);
    if (!user) {
      logins.failed(username, address, Date.now());
      log.info(
        { client: client.clientId, username: username.slice(0, 64) },
        "development IdP: password grant refused (invalid user credentials)",
      );
      throw new errors.InvalidGrant("invalid user credentials");
    }
    const { provider } = ctx.oidc;
    const requested =
      typeof params["scope"] === "string" && params["scope"] ? params["scope"].split(" ") : ["openid", "profile"];
    const scopes = new Set(requested.filter((s) => SUPPORTED_SCOPES.includes(s)));
    const scope = [...scopes].join(" ");
    const acct = account(user);
    ctx.oidc.entity("Account", acct);

    const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
    grant.addOIDCScope(scope);
    grant.addResourceScope(RESOURCE, scope);
    const grantId = await grant.save();
    ctx.oidc.entity("Grant", grant);

    const at = new provider.AccessToken({ accountId: user.id, client, grantId, gty: "password", scope });
    const ResourceServerCtor = (provider as unknown as { ResourceServer: ResourceServerClass }).ResourceServer;
    at.resourceServer = new ResourceServerCtor(RESOURCE, resourceServerInfo());
    at.scope = grant.getResourceScopeFiltered(RESOURCE, scopes);
    ctx.oidc.entity("AccessToken", at);
    const accessToken = await at.save();

    const rt = new provider.RefreshToken({
      accountId: user.id,
      client,
      grantId,
      gty: "password",
      resource: RESOURCE,
      rotations: 0,
      scope,
    } as ConstructorParameters<typeof provider.RefreshToken>[0]);
    ctx.oidc.entity("RefreshToken", rt);
    const refreshToken = await rt.save();

    let idToken: string | undefined;
    if (scopes.has("openid")) {
      const token = new provider.IdToken(await acct.claims("id_token", scope, {}, []), { ctx });
      (token as typeof token & { scope: string }).scope = scope;
      idToken = await token.issue({ use: "idtoken" });
    }
    ctx.body = {
      access_token: accessToken,
      expires_in: at.expiration,
      refresh_token: refreshToken,
      refresh_expires_in: refreshTtl,
      id_token: idToken,
      token_type: "Bearer",
      scope: at.scope,
    };
    log.info({ client: client.clientId, sub: user.id, username: user.username }, "development IdP: password grant");
    await next();
  }

  const configuration: Configuration = {
    adapter: store.adapterFactory(),
    jwks: { keys: signingKeys.map((k) => ({ ...k })) },
    cookies: {
      keys: cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: "lax", path: `${prefix}/` },
      short: { signed: true, httpOnly: true, sameSite: "lax", path: `${prefix}/` },
      names: { session: "natter_idp_session", interaction: "natter_idp_interaction", resume: "natter_idp_resume" },
    },
    clients: [
      {
        client_id: "natter-web",
        client_name: "natter web",
        application_type: "web",
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: redirectUris,
        post_logout_redirect_uris: redirectUris,
      },
      {
        client_id: "natter-cli",
        client_name: "natter command line",
        application_type: "native",
        token_endpoint_auth_method: "none",
        grant_types: ["password", "refresh_token"],
        response_types: [],
        redirect_uris: [],
      },
    ],
    responseTypes: ["code"],
    pkce: { methods: ["S256"], required: () => true },
    scopes: SUPPORTED_SCOPES,
    claims: { openid: ["sub"], profile: ["preferred_username", "name"] },
    routes: ROUTES,
    findAccount: (_ctx, sub) => {
      const user = users.byId(sub);
      return user ? account(user) : undefined;
    },
    extraTokenClaims: (_ctx, token) => {
      const accountId = "accountId" in token ? token.accountId : undefined;
      const user = typeof accountId === "string" ? users.byId(accountId) : undefined;
      if (!user) return undefined;
      return {
        typ: "Bearer",
        azp: token.clientId,
        preferred_username: user.username,
        realm_access: { roles: [...user.roles] },
        resource_access: { account: { roles: ["manage-account", "view-profile"] } },
      };
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== RESOURCE) throw new errors.InvalidTarget();
          return resourceServerInfo();
        },
      },
    },
    // natter's own clients need no consent, as with Keycloak's first-party clients: the grant is made here.
    loadExistingGrant: async (ctx) => {
      const { client, session, result } = ctx.oidc;
      const accountId = session?.accountId;
      if (!client || typeof accountId !== "string") return undefined;
      const grantId = result?.consent?.grantId ?? session?.grantIdFor(client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== accountId)
        grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId });
      grantEverything(grant);
      await grant.save();
      return grant;
    },
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    interactions: { url: (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
    clientBasedCORS: (_ctx, origin, client) => (client.redirectUris ?? []).some((u) => originOf(u) === origin),
    renderError: (ctx, out) => {
      ctx.type = "html";
      ctx.body = errorPage(
        "Sign-in failed",
        `${out.error}${out.error_description ? `: ${out.error_description}` : ""}`,
      );
    },
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: 60,
      ClientCredentials: accessTtl,
      IdToken: accessTtl,
      RefreshToken: refreshTtl,
      Interaction: 600,
      Session: refreshTtl,
      Grant: refreshTtl,
    },
  };

  const provider = new Provider(issuer, configuration);
  // natter serves plain HTTP: an https issuer is reached through a TLS-terminating proxy, whose
  // X-Forwarded-Proto must be believed for https URLs in discovery and secure cookies.
  if (issuer.startsWith("https:")) provider.proxy = true;
  provider.registerGrantType("password", passwordGrant, ["username", "password", "scope"]);
  provider.on("server_error", (_ctx: unknown, err: Error) => log.error({ err }, "development IdP: server error"));
  provider.on("grant.error", (ctx: KoaContextWithOIDC, err: errors.OIDCProviderError) => {
    log.info(
      {
        client: ctx.oidc.client?.clientId,
        error: err.error,
        description: err.error_description,
        detail: err.error_detail,
      },
      "development IdP: token request refused",
    );
  });
  provider.on("authorization.error", (_ctx: unknown, err: errors.OIDCProviderError) => {
    log.info(
      { error: err.error, description: err.error_description, detail: err.error_detail },
      "development IdP: authorization request refused",
    );
  });
  return provider;
}

function originOf(u: string): string | undefined {
  try {
    return new URL(u).origin;
  } catch {
    return undefined;
  }
}

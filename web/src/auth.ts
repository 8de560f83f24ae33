import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import { createSignal, type Accessor } from "solid-js";
import type { WebConfig } from "./config.ts";

/** The alphabet of ids in NATS subjects (domain/ids.ts `ID_PATTERN`). */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Maps an OIDC `sub` claim to a user id, exactly as the server does (domain/ids.ts
 * `userIdFromSub`, copied because web code imports server code for types only): a `sub` in the
 * id alphabet not starting with `x_` is kept; any other is `x_` and its UTF-8 bytes in hex; one
 * too long after mapping is refused with an Error.
 *
 * @example userIdFromSub("alice@example.com") // "x_616c696365406578616d706c652e636f6d"
 */
export function userIdFromSub(sub: string): string {
  if (ID_PATTERN.test(sub) && !sub.startsWith("x_")) return sub;
  const hex = Array.from(new TextEncoder().encode(sub), (b) => b.toString(16).padStart(2, "0")).join("");
  const id = `x_${hex}`;
  if (!ID_PATTERN.test(id)) throw new Error("the token's sub is too long to be a user id");
  return id;
}

/** Who is signed in, as the client needs it. */
export type Identity = Readonly<{
  /** The user id (the mapped `sub`): the `<uid>` of every subject. */
  userId: string;
  /** `preferred_username`, for display. */
  username: string;
  /** Realm roles (`realm_access.roles` of the access token): `admin`, `user`, or none. */
  roles: readonly string[];
  accessToken: string;
  /** When the access token expires, in ms since the epoch (0 when unknown). */
  expiresAt: number;
}>;

/** The claims of a JWT, read without checking it (the server checks; the client only displays). */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (part === undefined) return {};
  try {
    const b64 = part
      .replace(/-/g, "+")
      .replace(/_/g, "/")
      .padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The identity of an oidc-client-ts user: id from the access token's `sub` (else the ID token's), roles from the access token. */
export function identityOf(user: Pick<User, "access_token" | "profile" | "expires_at">): Identity {
  const claims = jwtClaims(user.access_token);
  const sub = typeof claims["sub"] === "string" ? claims["sub"] : user.profile.sub;
  const realm = claims["realm_access"];
  const roles =
    typeof realm === "object" && realm !== null && Array.isArray((realm as { roles?: unknown }).roles)
      ? ((realm as { roles: unknown[] }).roles.filter((r) => typeof r === "string") as string[])
      : [];
  const username =
    user.profile.preferred_username ??
    (typeof claims["preferred_username"] === "string" ? claims["preferred_username"] : sub);
  return {
    userId: userIdFromSub(sub),
    username,
    roles,
    accessToken: user.access_token,
    expiresAt: (user.expires_at ?? 0) * 1000,
  };
}

/** Sign-in state and actions. */
export type Auth = {
  /** The signed-in identity, null when signed out. */
  identity: Accessor<Identity | null>;
  /** Why the last sign-in or renewal failed, for the login screen. */
  problem: Accessor<string | null>;
  /** The current access token ("" when signed out): what the NATS authenticator and HTTP calls use. */
  token(): string;
  /** Loads a stored session, or finishes a sign-in when the page is the `/callback` redirect. */
  start(): Promise<void>;
  /** Goes to the issuer's login page; comes back to the current page. */
  signIn(): Promise<void>;
  /** Ends the session at the issuer and here. */
  signOut(): Promise<void>;
  /** Gets a fresh access token now (refresh token grant); false when the session is gone. */
  renew(): Promise<boolean>;
  /**
   * Renews the token only when it expires within `marginMs` (default 30 s): what a refusal by
   * NATS calls, since NATS closes a connection when the token it was opened with expires, by
   * which time the page has usually renewed it already.
   */
  ensureFresh(marginMs?: number): Promise<boolean>;
  /** Calls `listener` with each new access token (after sign-in and every renewal). */
  onToken(listener: (token: string) => void): () => void;
};

export const CALLBACK_PATH = "/callback";

/** The page's OIDC session: authorization code with PKCE, renewed with the refresh token before expiry, kept in sessionStorage. */
export function createAuth(config: WebConfig, manager?: UserManager): Auth {
  const origin = window.location.origin;
  const um =
    manager ??
    new UserManager({
      authority: config.issuer,
      client_id: config.clientId,
      redirect_uri: `${origin}${CALLBACK_PATH}`,
      post_logout_redirect_uri: `${origin}/`,
      response_type: "code",
      scope: "openid profile",
      automaticSilentRenew: true,
      accessTokenExpiringNotificationTimeInSeconds: 60,
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
      stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    });
  const [identity, setIdentity] = createSignal<Identity | null>(null);
  const [problem, setProblem] = createSignal<string | null>(null);
  const listeners = new Set<(token: string) => void>();

  const take = (user: User | null): void => {
    if (user === null || user.expired === true) {
      setIdentity(null);
      return;
    }
    const id = identityOf(user);
    setIdentity(id);
    setProblem(null);
    for (const l of listeners) l(id.accessToken);
  };

  um.events.addUserLoaded((user) => take(user));
  um.events.addUserUnloaded(() => {
    setIdentity(null);
  });
  um.events.addSilentRenewError((err) => {
    setProblem(`Could not renew the session: ${err.message}`);
  });
  um.events.addAccessTokenExpired(() => {
    void renew();
  });

  let renewing: Promise<boolean> | null = null;
  const renew = (): Promise<boolean> => {
    renewing ??= um
      .signinSilent()
      .then((user) => {
        take(user);
        return user !== null;
      })
      .catch(async (err: unknown) => {
        // A refresh token that is refused (expired, revoked, server restarted) ends the session.
        if (isOidcError(err)) {
          await um.removeUser().catch(() => undefined);
          setIdentity(null);
          setProblem("Your session has ended. Please sign in again.");
          return false;
        }
        return identity() !== null;
      })
      .finally(() => {
        renewing = null;
      });
    return renewing;
  };

  return {
    identity,
    problem,
    token: () => identity()?.accessToken ?? "",
    async start() {
      try {
        if (window.location.pathname === CALLBACK_PATH) {
          const user = await um.signinRedirectCallback();
          const back = (user.state as { returnTo?: string } | undefined)?.returnTo;
          window.history.replaceState(
            null,
            "",
            back !== undefined && back.startsWith("/") && !back.startsWith("//") ? back : "/",
          );
          take(user);
          return;
        }
        const user = await um.getUser();
        if (user === null) return;
        if (user.expired === true) {
          take(null);
          if (user.refresh_token !== undefined) await renew();
          return;
        }
        take(user);
      } catch (err) {
        if (window.location.pathname === CALLBACK_PATH) window.history.replaceState(null, "", "/");
        setProblem(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    async signIn() {
      setProblem(null);
      const here = window.location.pathname + window.location.search;
      await um.signinRedirect({ state: { returnTo: here === CALLBACK_PATH ? "/" : here } });
    },
    async signOut() {
      const user = await um.getUser();
      await um.removeUser();
      setIdentity(null);
      await um.signoutRedirect(user?.id_token !== undefined ? { id_token_hint: user.id_token } : {});
    },
    renew,
    ensureFresh(marginMs = 30_000) {
      const id = identity();
      if (id !== null && id.expiresAt - Date.now() > marginMs) return Promise.resolve(true);
      return renew();
    },
    onToken(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** An answer of the issuer (invalid_grant and the like), as opposed to the network failing. */
function isOidcError(err: unknown): boolean {
  return (
    typeof err === "object" && err !== null && "error" in err && typeof (err as { error: unknown }).error === "string"
  );
}

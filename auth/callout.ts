import {
  encodeAuthorizationResponse,
  encodeUser,
  type AuthorizationRequest,
  type ClaimsData,
  type User,
} from "@nats-io/jwt";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { fastSigner, verifyByNkey, XkeyCipher } from "./fastKeys.ts";
import type { IdentityNames } from "./identityNames.ts";
import type { AuthKeys, ServiceName } from "./keys.ts";
import { SERVICE_NAMES } from "./keys.ts";
import { servicePermissions, USER_MAX_PAYLOAD, USER_MAX_SUBS, userPermissions, type RealmRole } from "./permissions.ts";

/** The subject on which nats-server asks who a connecting client is. */
export const AUTH_CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH";
/** The account natter's users and services live in. */
export const CHAT_ACCOUNT = "CHAT";

/** What the callout needs of a checked access token. */
export type CheckedToken = {
  userId: string;
  username: string;
  realmRole: RealmRole;
  exp: number;
  identityName?: string | undefined;
};

/** Checks an access token; throws (any error, with a reason) when it is not good. */
export type TokenCheck = (token: string) => Promise<CheckedToken>;

export type AuthCalloutOptions = {
  keys: AuthKeys;
  verify: TokenCheck;
  log: Logger;
  /** Requests handled at once; more are refused at once as overloaded (the client retries). */
  maxConcurrent?: number;
  /** A request not answered within this is refused. */
  timeoutMs?: number;
  registry?: Registry;
  /** The queue group, so any number of callout instances share the requests. */
  queue?: string;
  /** Where the names that users' tokens give are recorded (default: nowhere). */
  identityNames?: IdentityNames;
};

/** A running auth callout service. */
export type AuthCallout = { readonly inFlight: number; drain(): Promise<void> };

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Reads the server's authorization request JWT and checks its signature by the server's nkey
 * (the JWT's `iss`), natively. Throws when it is not one.
 */
function decodeRequest(jwt: string): AuthorizationRequest {
  const [h, p, sig] = jwt.split(".");
  if (h === undefined || p === undefined || sig === undefined)
    throw new Refusal("bad_request", "the authorization request is not a JWT");
  const claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as ClaimsData<AuthorizationRequest>;
  if (!verifyByNkey(claims.iss, enc.encode(`${h}.${p}`), Buffer.from(sig, "base64url"))) {
    throw new Refusal("bad_request", "the authorization request's signature does not match its server");
  }
  return claims.nats as AuthorizationRequest;
}

class Refusal extends Error {
  constructor(
    readonly outcome: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Serves nats-server's auth callout: each connecting client's credentials arrive encrypted with
 * the callout's xkey; an access token (the client's `token`) is checked and turned into a user
 * JWT signed by the issuer account, with the user's permissions (by realm role) and the token's
 * expiry, so the server closes the connection when the token expires; a service account proves
 * its nkey by signing the server's nonce. Answers are encrypted for the asking server. The log
 * names the outcome and the user, never the token. The name a user's token gives goes to
 * `identityNames`, which records it in the log when it is new.
 */
export async function startAuthCallout(nc: NatsConnection, options: AuthCalloutOptions): Promise<AuthCallout> {
  const { keys, log } = options;
  const registry = options.registry ?? new Registry();
  const requests = new Counter({
    name: "natter_auth_requests_total",
    help: "Auth callout requests by outcome",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "natter_auth_latency_seconds",
    help: "Time to answer an auth callout request",
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const services = new Map<string, ServiceName>(SERVICE_NAMES.map((n) => [keys.services[n].getPublicKey(), n]));
  const issuer = fastSigner(keys.issuer);
  const cipher = new XkeyCipher(keys.xkey);
  const maxConcurrent = options.maxConcurrent ?? 256;
  const timeoutMs = options.timeoutMs ?? 3000;
  let inFlight = 0;
  const running = new Set<Promise<void>>();

  async function authorize(req: AuthorizationRequest): Promise<{ jwt: string; who: string; kind: string }> {
    const opts = req.connect_opts;
    if (opts.nkey) {
      const service = services.get(opts.nkey);
      if (service === undefined) throw new Refusal("unknown_service", `nkey ${opts.nkey} is not a natter service`);
      const nonce = req.client_info.nonce;
      if (!nonce || !opts.sig) throw new Refusal("bad_signature", "no signed nonce");
      const ok = verifyByNkey(opts.nkey, enc.encode(nonce), Buffer.from(opts.sig, "base64url"));
      if (!ok) throw new Refusal("bad_signature", `service ${service} signature does not match`);
      const user: Partial<User> = { ...servicePermissions(service) };
      const jwt = await encodeUser(`svc-${service}`, req.user_nkey, issuer, user, { aud: CHAT_ACCOUNT });
      return { jwt, who: `svc-${service}`, kind: "service" };
    }
    const token = opts.auth_token ?? opts.pass;
    if (!token)
      throw new Refusal("no_credentials", "no access token: connect with the Keycloak access token as the token");
    let checked: CheckedToken;
    try {
      checked = await options.verify(token);
    } catch (err) {
      const reason = (err as { reason?: string }).reason ?? "invalid_token";
      throw new Refusal(reason, (err as Error).message);
    }
    const now = Math.floor(Date.now() / 1000);
    if (checked.exp <= now) throw new Refusal("expired", "the token has expired");
    const user: Partial<User> = {
      ...userPermissions(checked.userId, checked.realmRole),
      payload: USER_MAX_PAYLOAD,
      subs: USER_MAX_SUBS,
      data: -1,
      allowed_connection_types: ["STANDARD", "WEBSOCKET"],
    };
    const jwt = await encodeUser(checked.userId, req.user_nkey, issuer, user, { aud: CHAT_ACCOUNT, exp: checked.exp });
    // Every client signs in here, the web client, bots and scripts alike: the name is learnt for all.
    options.identityNames?.note(checked.userId, checked.identityName);
    return { jwt, who: checked.userId, kind: checked.realmRole };
  }

  async function handle(m: Msg): Promise<void> {
    const started = performance.now();
    const serverXkey = m.headers?.get("Nats-Server-Xkey");
    let req: AuthorizationRequest | undefined;
    const answer = async (data: { jwt: string } | { error: string }) => {
      if (req === undefined || !serverXkey) return;
      const body = await encodeAuthorizationResponse(req.user_nkey, req.server_id.id, issuer, data, {});
      m.respond(cipher.seal(enc.encode(body), serverXkey));
    };
    let outcome = "ok";
    try {
      if (!serverXkey)
        throw new Refusal("not_encrypted", "the request is not encrypted: configure the callout's xkey in nats-server");
      const opened = cipher.open(m.data, serverXkey);
      if (opened === null) throw new Refusal("not_encrypted", "the request does not open with the callout's xkey");
      req = decodeRequest(dec.decode(opened));
      if (inFlight > maxConcurrent)
        throw new Refusal("overloaded", "the auth service is overloaded: try again in a moment");
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Refusal("timeout", `no decision within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const granted = await Promise.race([authorize(req), timeout]);
        await answer({ jwt: granted.jwt });
        log.info(
          {
            outcome,
            who: granted.who,
            role: granted.kind,
            client: req.client_info.type,
            ms: +(performance.now() - started).toFixed(2),
          },
          "auth",
        );
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      outcome = err instanceof Refusal ? err.outcome : "error";
      const message = err instanceof Refusal ? err.message : "internal error";
      if (!(err instanceof Refusal)) log.error({ err }, "auth callout failed");
      log.info(
        { outcome, reason: message, client: req?.client_info.type, host: req?.client_info.host },
        "auth refused",
      );
      await answer({ error: outcome === "overloaded" ? message : `authentication failed: ${outcome}` }).catch(
        () => undefined,
      );
    } finally {
      requests.inc({ outcome });
      latency.observe((performance.now() - started) / 1000);
    }
  }

  const sub: Subscription = nc.subscribe(AUTH_CALLOUT_SUBJECT, {
    queue: options.queue ?? "natter-auth",
    callback: (err, m) => {
      if (err) {
        log.error({ err }, "auth callout subscription failed");
        return;
      }
      inFlight++;
      const p = handle(m).finally(() => {
        inFlight--;
        running.delete(p);
      });
      running.add(p);
    },
  });
  await nc.flush();
  log.info("auth callout ready");
  return {
    get inFlight() {
      return inFlight;
    },
    async drain() {
      await sub.drain();
      await Promise.allSettled([...running]);
      await options.identityNames?.settled();
    },
  };
}

import type { Adapter, AdapterPayload } from "oidc-provider";

interface Entry {
  payload: AdapterPayload;
  /** Epoch ms after which the entry is gone. */
  expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;
/** The models a revoked grant takes with it (as in oidc-provider's own memory adapter). */
const GRANTABLE = new Set([
  "AccessToken",
  "AuthorizationCode",
  "RefreshToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
]);

/**
 * The in-memory storage of the development IdP's sessions, interactions, codes, grants and
 * refresh tokens. Unlike oidc-provider's own memory adapter it is not capped at 1,000 entries
 * (a load test logs in thousands of users), it outlives a key rotation (which builds a new
 * provider over the same store), and it forgets entries when they expire. Nothing survives a
 * restart: people log in again, as with a restarted Keycloak in dev mode.
 */
export class DevIdpStore {
  readonly #entries = new Map<string, Entry>();
  readonly #byGrant = new Map<string, Set<string>>();
  readonly #sessionByUid = new Map<string, string>();
  readonly #byUserCode = new Map<string, string>();
  readonly #sweeper: NodeJS.Timeout;

  constructor() {
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.#sweeper.unref();
  }

  /** An oidc-provider adapter factory over this store. */
  adapterFactory(): (model: string) => Adapter {
    return (model) => this.#adapter(model);
  }

  /** Drops expired entries. */
  sweep(now = Date.now()): void {
    for (const [key, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(key);
    for (const [grantId, keys] of this.#byGrant) {
      for (const k of keys) if (!this.#entries.has(k)) keys.delete(k);
      if (keys.size === 0) this.#byGrant.delete(grantId);
    }
    for (const [uid, key] of this.#sessionByUid) if (!this.#entries.has(key)) this.#sessionByUid.delete(uid);
    for (const [code, key] of this.#byUserCode) if (!this.#entries.has(key)) this.#byUserCode.delete(code);
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#entries.clear();
    this.#byGrant.clear();
    this.#sessionByUid.clear();
    this.#byUserCode.clear();
  }

  #get(key: string | undefined): AdapterPayload | undefined {
    if (key === undefined) return undefined;
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.payload;
  }

  #adapter(model: string): Adapter {
    const keyOf = (id: string) => `${model}:${id}`;
    return {
      upsert: async (id, payload, expiresIn) => {
        const key = keyOf(id);
        this.#entries.set(key, { payload, expiresAt: Date.now() + expiresIn * 1000 });
        if (model === "Session" && payload.uid) this.#sessionByUid.set(payload.uid, key);
        if (payload.grantId && GRANTABLE.has(model)) {
          const keys = this.#byGrant.get(payload.grantId) ?? new Set<string>();
          keys.add(key);
          this.#byGrant.set(payload.grantId, keys);
        }
        if (payload.userCode) this.#byUserCode.set(payload.userCode, key);
      },
      find: async (id) => this.#get(keyOf(id)),
      findByUid: async (uid) => this.#get(this.#sessionByUid.get(uid)),
      findByUserCode: async (userCode) => this.#get(this.#byUserCode.get(userCode)),
      consume: async (id) => {
        const p = this.#get(keyOf(id));
        if (p) p.consumed = Math.floor(Date.now() / 1000);
      },
      destroy: async (id) => {
        this.#entries.delete(keyOf(id));
      },
      revokeByGrantId: async (grantId) => {
        for (const key of this.#byGrant.get(grantId) ?? []) this.#entries.delete(key);
        this.#byGrant.delete(grantId);
      },
    };
  }
}

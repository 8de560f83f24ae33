import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createAccount, createCurve, createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";

/** The parts of natter that connect to NATS as service accounts. */
export const SERVICE_NAMES = ["commands", "projections", "replay", "gateway", "identity"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * The key material of the NATS auth setup, made at first start and kept in the data dir (mode
 * 0600, never committed): the account key that signs user JWTs, the callout's curve key (xkey)
 * that encrypts requests and answers, the callout's own user key, and one user key per service.
 */
export type AuthKeys = {
  issuer: KeyPair;
  xkey: KeyPair;
  callout: KeyPair;
  services: Record<ServiceName, KeyPair>;
};

type StoredKeys = { issuer: string; xkey: string; callout: string; services: Record<string, string> };

const dec = new TextDecoder();
const seedOf = (kp: KeyPair) => dec.decode(kp.getSeed());

/** The keys file in a data dir. */
export const keysFile = (dataDir: string): string => join(dataDir, "auth", "nats-keys.json");

/** Reads the keys from `file`, creating them (and any service key missing) when absent. */
export async function loadOrCreateAuthKeys(file: string): Promise<AuthKeys> {
  let stored: StoredKeys | undefined;
  try {
    stored = JSON.parse(await readFile(file, "utf8")) as StoredKeys;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      throw new Error(`cannot read the NATS keys in ${file}: ${(err as Error).message}`, { cause: err });
  }
  const enc = new TextEncoder();
  const keys: AuthKeys = {
    issuer: stored ? fromSeed(enc.encode(stored.issuer)) : createAccount(),
    xkey: stored ? fromSeed(enc.encode(stored.xkey)) : createCurve(),
    callout: stored ? fromSeed(enc.encode(stored.callout)) : createUser(),
    services: Object.fromEntries(
      SERVICE_NAMES.map((n) => [n, stored?.services[n] ? fromSeed(enc.encode(stored.services[n])) : createUser()]),
    ) as Record<ServiceName, KeyPair>,
  };
  const complete = stored !== undefined && SERVICE_NAMES.every((n) => stored!.services[n] !== undefined);
  if (!complete) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const out: StoredKeys = {
      issuer: seedOf(keys.issuer),
      xkey: seedOf(keys.xkey),
      callout: seedOf(keys.callout),
      services: Object.fromEntries(SERVICE_NAMES.map((n) => [n, seedOf(keys.services[n])])),
    };
    await writeFile(file, JSON.stringify(out, null, 2), { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return keys;
}

/** Fresh keys in memory (tests). */
export function createAuthKeys(): AuthKeys {
  return {
    issuer: createAccount(),
    xkey: createCurve(),
    callout: createUser(),
    services: Object.fromEntries(SERVICE_NAMES.map((n) => [n, createUser()])) as Record<ServiceName, KeyPair>,
  };
}

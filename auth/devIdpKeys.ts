import { generateKeyPair, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { calculateJwkThumbprint } from "jose";
import type { Logger } from "pino";

/** A private RSA signing key as a JWK, with its `kid`, `alg` and `use`. */
export interface PrivateSigningJwk {
  kty: "RSA";
  kid: string;
  alg: "RS256";
  use: "sig";
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
}

/** How many signing keys are kept: the one that signs and the one before it (still published). */
const KEPT_KEYS = 2;
const generateRsa = promisify(generateKeyPair);

/**
 * The signing keys of the development IdP in `<dir>/jwks.json` (mode 0600): made at first start,
 * reused on restart, newest first. The newest signs; older ones are published for verification.
 */
export class DevIdpKeyFile {
  readonly path: string;
  readonly #log: Logger;

  constructor(dir: string, log: Logger) {
    this.path = join(dir, "jwks.json");
    this.#log = log;
  }

  /** The keys in the file, or one new key written to it when there is no file. */
  async loadOrCreate(): Promise<PrivateSigningJwk[]> {
    const existing = await readPrivateJson<{ keys: PrivateSigningJwk[] }>(this.path, this.#log);
    if (existing !== undefined) {
      if (!Array.isArray(existing.keys) || existing.keys.length === 0 || !existing.keys.every(isPrivateRsa)) {
        throw new Error(`development IdP: ${this.path} holds no usable RSA signing keys; remove it to make new ones`);
      }
      return existing.keys;
    }
    const keys = [await newSigningKey()];
    await writePrivateJson(this.path, { keys });
    this.#log.info({ kid: keys[0]?.kid, path: this.path }, "development IdP: made a new signing key");
    return keys;
  }

  /** Adds a new key in front (it signs from now on), keeps the previous one, drops any older; saves. */
  async rotate(current: readonly PrivateSigningJwk[]): Promise<PrivateSigningJwk[]> {
    const keys = [await newSigningKey(), ...current].slice(0, KEPT_KEYS);
    await writePrivateJson(this.path, { keys });
    return keys;
  }
}

/** The keys that sign oidc-provider's cookies, in `<dir>/cookie-keys.json` (mode 0600), made at first start. */
export async function loadOrCreateCookieKeys(dir: string, log: Logger): Promise<string[]> {
  const path = join(dir, "cookie-keys.json");
  const existing = await readPrivateJson<string[]>(path, log);
  if (Array.isArray(existing) && existing.length > 0 && existing.every((k) => typeof k === "string" && k.length >= 32))
    return existing;
  const keys = [randomBytes(32).toString("base64url")];
  await writePrivateJson(path, keys);
  return keys;
}

async function newSigningKey(): Promise<PrivateSigningJwk> {
  const { privateKey } = await generateRsa("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const kid = await calculateJwkThumbprint({ kty: "RSA", n: jwk.n, e: jwk.e });
  const key = { ...jwk, kid, alg: "RS256", use: "sig" };
  if (!isPrivateRsa(key)) throw new Error("development IdP: the new RSA key is incomplete");
  return key;
}

function isPrivateRsa(k: unknown): k is PrivateSigningJwk {
  if (typeof k !== "object" || k === null) return false;
  const r = k as Record<string, unknown>;
  return (
    r["kty"] === "RSA" &&
    r["alg"] === "RS256" &&
    r["use"] === "sig" &&
    ["kid", "n", "e", "d", "p", "q", "dp", "dq", "qi"].every((f) => typeof r[f] === "string" && r[f] !== "")
  );
}

/** Reads a JSON file holding secrets; tightens its mode to 0600 if it was looser. Undefined when absent. */
async function readPrivateJson<T>(path: string, log: Logger): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    await chmod(path, 0o600);
    log.warn({ path }, "development IdP: a secrets file was readable by others; its mode is now 0600");
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`development IdP: ${path} is not JSON; remove it to make a new one`);
  }
}

/** Writes secrets atomically (a temporary file renamed over the old one), mode 0600, in a 0700 folder. */
async function writePrivateJson(path: string, value: unknown): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

import { createPrivateKey, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";
import nacl from "tweetnacl";

/*
 * The auth callout signs two JWTs and opens and seals one box per connection. nkeys does all of
 * it in pure JavaScript and derives the key pair from the seed on every call: about 20 ms of CPU
 * per connection. Node's own Ed25519 signs in microseconds, and the box's key agreement with a
 * given server is the same every time, so it is computed once.
 */

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/**
 * The same key pair, signing with Node's native Ed25519 and answering `getPublicKey` from a
 * cache. For the issuer account key that signs every user JWT.
 */
export function fastSigner(kp: KeyPair): KeyPair {
  const raw = (kp as unknown as { getRawSeed(): Uint8Array }).getRawSeed();
  const privateKey: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(raw)]),
    format: "der",
    type: "pkcs8",
  });
  const publicKeyObject = createPublicKey(privateKey);
  const publicKey = kp.getPublicKey();
  const privateEncoded = kp.getPrivateKey();
  return {
    getPublicKey: () => publicKey,
    getPrivateKey: () => privateEncoded,
    getSeed: () => kp.getSeed(),
    sign: (input: Uint8Array) => new Uint8Array(edSign(null, input, privateKey)),
    verify: (input: Uint8Array, sig: Uint8Array) => edVerify(null, input, publicKeyObject, sig),
    clear: () => kp.clear(),
    seal: () => {
      throw new Error("not a curve key");
    },
    open: () => {
      throw new Error("not a curve key");
    },
  } as KeyPair;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Decodes an nkey's base32 text into its bytes (prefix, key, checksum). */
function base32(text: string): Uint8Array {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new Error("not an nkey");
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

/** The raw 32-byte key of a public nkey (one prefix byte, 32 key bytes, 2 checksum bytes). */
export function rawPublicKey(nkey: string): Uint8Array {
  const bytes = base32(nkey);
  if (bytes.length !== 35) throw new Error("not a public nkey");
  return bytes.slice(1, 33);
}

const publicKeyObjects = new Map<string, KeyObject>();

/** Verifies an Ed25519 signature by a public nkey with Node's native crypto. */
export function verifyByNkey(nkey: string, data: Uint8Array, sig: Uint8Array): boolean {
  let key = publicKeyObjects.get(nkey);
  if (key === undefined) {
    key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(rawPublicKey(nkey)).toString("base64url") },
      format: "jwk",
    });
    if (publicKeyObjects.size > 10_000) publicKeyObjects.clear();
    publicKeyObjects.set(nkey, key);
  }
  return edVerify(null, data, key, sig);
}

const XKEY_V1 = new TextEncoder().encode("xkv1");

/**
 * The callout's side of nats-server's xkey boxes (NaCl box, "xkv1" framing), with the key
 * agreement for each server computed once.
 */
export class XkeyCipher {
  private readonly secret: Uint8Array;
  private readonly shared = new Map<string, Uint8Array>();

  constructor(curve: KeyPair) {
    // nkeys keeps a curve key's raw 32-byte secret as `seed`.
    const secret = (curve as unknown as { seed?: unknown }).seed;
    if (!(secret instanceof Uint8Array) || secret.length !== 32) throw new Error("not a curve (xkey) key pair");
    this.secret = secret;
  }

  private key(serverXkey: string): Uint8Array {
    let k = this.shared.get(serverXkey);
    if (k === undefined) {
      k = nacl.box.before(rawPublicKey(serverXkey), this.secret);
      this.shared.set(serverXkey, k);
    }
    return k;
  }

  /** Opens a box from `serverXkey`; null when it does not open. */
  open(message: Uint8Array, serverXkey: string): Uint8Array | null {
    if (message.length <= XKEY_V1.length + nacl.box.nonceLength) return null;
    for (let i = 0; i < XKEY_V1.length; i++) if (message[i] !== XKEY_V1[i]) return null;
    const nonce = message.subarray(XKEY_V1.length, XKEY_V1.length + nacl.box.nonceLength);
    return nacl.box.open.after(message.subarray(XKEY_V1.length + nacl.box.nonceLength), nonce, this.key(serverXkey));
  }

  /** Seals `message` for `serverXkey`. */
  seal(message: Uint8Array, serverXkey: string): Uint8Array {
    const nonce = nacl.randomBytes(nacl.box.nonceLength);
    const boxed = nacl.box.after(message, nonce, this.key(serverXkey));
    const out = new Uint8Array(XKEY_V1.length + nonce.length + boxed.length);
    out.set(XKEY_V1, 0);
    out.set(nonce, XKEY_V1.length);
    out.set(boxed, XKEY_V1.length + nonce.length);
    return out;
  }
}

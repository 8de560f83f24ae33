import type { JetStreamManager } from "@nats-io/jetstream";

/** A key's current value in a KV bucket. */
export type KvValue = { key: string; value: Uint8Array; revision: number };

/** How many key filters go into one batched direct get. */
const FILTERS_PER_REQUEST = 50;

/**
 * The live values of the keys of KV `bucket` that match `keyFilters` (KV key patterns, `*` and
 * `>` allowed), in one batched direct get per 50 filters: no consumer is made, unlike
 * `kv.keys()`. Deleted and purged keys, and keys whose value expired (the server's
 * `Nats-Marker-Reason` marker), are left out.
 *
 * @example await kvLastValues(jsm, "user_rooms", ["u1.*"]) // u1's memberships, tombstones included
 */
export async function kvLastValues(
  jsm: JetStreamManager,
  bucket: string,
  keyFilters: readonly string[],
): Promise<KvValue[]> {
  const prefix = `$KV.${bucket}.`;
  const out: KvValue[] = [];
  for (let i = 0; i < keyFilters.length; i += FILTERS_PER_REQUEST) {
    const multi_last = keyFilters.slice(i, i + FILTERS_PER_REQUEST).map((f) => prefix + f);
    const iter = await jsm.direct.getLastMessagesFor(`KV_${bucket}`, { multi_last });
    for await (const m of iter) {
      if (m.header.has("KV-Operation") || m.header.has("Nats-Marker-Reason")) continue;
      out.push({ key: m.subject.slice(prefix.length), value: m.data, revision: m.seq });
    }
  }
  return out;
}

/**
 * The rooms `userId` is a member of now, from KV `user_rooms` (`<userId>.<roomId>`, a `{ role }`
 * whose role is null once they left).
 */
export async function roomsOfUser(jsm: JetStreamManager, userId: string): Promise<string[]> {
  const member = (bytes: Uint8Array): boolean => {
    try {
      return typeof (JSON.parse(new TextDecoder().decode(bytes)) as { role?: unknown }).role === "string";
    } catch {
      return false;
    }
  };
  return (await kvLastValues(jsm, "user_rooms", [`${userId}.*`]))
    .filter((v) => member(v.value))
    .map((v) => v.key.slice(userId.length + 1));
}

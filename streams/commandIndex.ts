import type { Requests } from "./requests.ts";

const encoder = new TextEncoder();

/** Where an applied command's event is: `{ seq, subject }`. */
export type IndexedCommand = { seq: number; subject: string };

/**
 * The command index (the `commands` bucket; README, "How the write side works"): `<userId>.<commandId>` → the
 * event the command appended. Read with one direct get and written without waiting for an ack, on
 * the command service's shared requests: it only makes finding an old command cheap, since each
 * aggregate remembers the commands it applied, so a lost write costs a slower lookup, never a
 * wrong answer.
 */
export class CommandIndex {
  constructor(
    private readonly requests: Requests,
    private readonly bucket = "commands",
  ) {}

  /** The event `commandId` of `userId` appended, or null when the index has none (or cannot say). */
  async get(userId: string, commandId: string): Promise<IndexedCommand | null> {
    try {
      const m = await this.requests.lastBySubject(`KV_${this.bucket}`, `$KV.${this.bucket}.${userId}.${commandId}`);
      const operation = m?.headers?.get("KV-Operation");
      if (m === null || operation === "DEL" || operation === "PURGE" || m.data.length === 0) return null;
      const entry = m.json<Partial<IndexedCommand>>();
      return typeof entry.seq === "number" && typeof entry.subject === "string"
        ? { seq: entry.seq, subject: entry.subject }
        : null;
    } catch {
      return null;
    }
  }

  /** Records where the command's event is (sent with the turn's other messages, no ack awaited). */
  put(userId: string, commandId: string, entry: IndexedCommand): void {
    this.requests.publish(`$KV.${this.bucket}.${userId}.${commandId}`, encoder.encode(JSON.stringify(entry)));
  }
}

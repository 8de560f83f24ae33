import { StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { isWrongLastSequence } from "../streams/index.ts";
import { KV_CHECKPOINTS } from "./names.ts";
import { CheckpointMovedError } from "./pgStore.ts";

/** Opens the checkpoint bucket, creating it where missing with `replicas` (NATTER_STREAM_REPLICAS). */
export async function openCheckpointBucket(nc: NatsConnection, replicas = 1): Promise<KV> {
  return new Kvm(nc).create(KV_CHECKPOINTS, { history: 1, replicas, storage: StorageType.File });
}

/**
 * A KV projection's checkpoint in the checkpoint bucket, moved compare-and-set on the revision this
 * instance read or wrote last, so that an instance that lost its lease (paused, then resumed in the
 * middle of a batch) cannot move it back behind the one that took over.
 */
export class KvCheckpoint {
  private revision = 0;

  constructor(
    private readonly kv: KV,
    private readonly name: string,
  ) {}

  /** Reads the stored checkpoint (0 where there is none) and takes its revision as the one the next put moves from. */
  async load(): Promise<number> {
    const stored = await this.kv.get(this.name);
    this.revision = stored?.revision ?? 0;
    return stored?.operation === "PUT" ? Number(stored.string()) : 0;
  }

  /** The stored checkpoint, or undefined where there is none; changes nothing. */
  async read(): Promise<number | undefined> {
    const e = await this.kv.get(this.name);
    return e?.operation === "PUT" ? Number(e.string()) : undefined;
  }

  /**
   * Moves the checkpoint to `seq` from the revision read or written last. Throws
   * CheckpointMovedError (naming `current`, the caller's checkpoint) when another instance moved it
   * meanwhile.
   */
  async put(seq: number, current: number): Promise<void> {
    try {
      this.revision =
        this.revision === 0
          ? await this.kv.create(this.name, String(seq))
          : await this.kv.update(this.name, String(seq), this.revision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new CheckpointMovedError(`${this.name} (in ${KV_CHECKPOINTS})`, current);
      throw err;
    }
  }
}

/**
 * A first-in, first-out queue of at most `limit` items between one producer and one consumer: the
 * producer goes on receiving while the consumer works, and waits once it is `limit` items ahead
 * (backpressure); the consumer takes everything queued at once, up to a maximum. The projector's
 * reader and worker share one (see Projector.runActive).
 *
 * @example
 * const q = new BoundedQueue<JsMsg>(1000);
 * // producer
 * for await (const m of messages) if (!(await q.push(m))) break;
 * q.close();
 * // consumer
 * for (let batch = await q.take(500); batch.length > 0; batch = await q.take(500)) await apply(batch);
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private ended: { failed: false } | { failed: true; error: unknown } | undefined;
  /** The producer waiting for room, or the consumer waiting for an item: at most one of each. */
  private roomMade: (() => void) | undefined;
  private itemAdded: (() => void) | undefined;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a queue holds at least one item, not ${limit}`);
  }

  /** Items queued now. */
  get size(): number {
    return this.items.length;
  }

  /** Queues `item` once there is room; false (the item not queued) when the queue was closed first. */
  async push(item: T): Promise<boolean> {
    while (this.items.length >= this.limit && this.ended === undefined)
      await new Promise<void>((r) => (this.roomMade = r));
    if (this.ended !== undefined) return false;
    this.items.push(item);
    this.itemAdded?.();
    this.itemAdded = undefined;
    return true;
  }

  /**
   * Waits until an item is queued, then takes the oldest ones, `max` at most. Once the queue is
   * closed: [] after close(), the error after fail().
   */
  async take(max: number): Promise<T[]> {
    while (this.items.length === 0 && this.ended === undefined) await new Promise<void>((r) => (this.itemAdded = r));
    if (this.ended?.failed) throw this.ended.error;
    if (this.ended !== undefined) return [];
    let taken: T[];
    if (this.items.length <= max) {
      taken = this.items;
      this.items = [];
    } else taken = this.items.splice(0, max);
    this.roomMade?.();
    this.roomMade = undefined;
    return taken;
  }

  /** Ends the queue at once: what is queued is dropped, `push` returns false and `take` []. Only the first close or fail counts. */
  close(): void {
    this.end({ failed: false });
  }

  /** Ends the queue like close(), but `take` throws `error`: the producer failed. */
  fail(error: unknown): void {
    this.end({ failed: true, error });
  }

  private end(how: NonNullable<BoundedQueue<T>["ended"]>): void {
    if (this.ended !== undefined) return;
    this.ended = how;
    this.items = [];
    this.roomMade?.();
    this.itemAdded?.();
    this.roomMade = this.itemAdded = undefined;
  }
}

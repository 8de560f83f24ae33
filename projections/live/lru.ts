/**
 * A map that holds at most `capacity` entries and drops the least recently used one when a new
 * entry would exceed it. `get` and `set` count as a use; `peek` does not. A JavaScript Map keeps
 * insertion order, so moving an entry to the end on use makes the first key the oldest.
 *
 * @example
 * const rooms = new Lru<string, RoomState>(10_000);
 * rooms.set("r1", state);
 * rooms.get("r1"); // state, now the most recently used
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`an LRU needs a capacity of at least 1, not ${capacity}`);
  }

  /** The value of `key`, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** The value of `key` without counting it as a use. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Sets `key` as the most recently used, dropping the least recently used entry when full. */
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }

  /** Removes `key`; true when it was there. */
  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** The number of entries. */
  get size(): number {
    return this.map.size;
  }
}

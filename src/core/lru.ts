/** A Map of bounded size kept in use order: the least recently used entry goes first. */
export class Lru<V> {
  readonly #map = new Map<string, V>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`an LRU holds at least one entry, not ${max}`);
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    for (const oldest of this.#map.keys()) {
      if (this.#map.size <= this.max) break;
      this.#map.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }
}

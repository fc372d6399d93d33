// A map that keeps its keys in least-recently-used order, for the cache policy.
//
// Why not a Map's own insertion order (delete, then set again, on every hit): V8's ordered hash table never reuses
// a deleted slot, so under a steady stream of hits it reallocates its whole table every (capacity - size) touches.
// In the gateway's near cache those tables, and the fresh key each set stored, lived through young collections:
// under lookup-hit load they were nearly all the gateway thread promoted to the old generation, and what kept its
// major collections coming. Here the order is a doubly linked list through the entries' own nodes, so a touch
// relinks one node: no allocation, no rehash.
// Owns: the nodes and the two ends of the list. Promises: get() and set() make the key the most recent; peek()
// and the size change nothing; oldestKey() is the least recently touched or set key; every operation is O(1).

class LruNode<K, V> {
  /** Toward the least recent end; null at that end. */
  older: LruNode<K, V> | null = null;
  /** Toward the most recent end; null at that end. */
  newer: LruNode<K, V> | null = null;

  constructor(
    readonly key: K,
    public value: V,
  ) {}
}

export class LruMap<K, V> {
  private readonly nodes = new Map<K, LruNode<K, V>>();
  private oldest: LruNode<K, V> | null = null;
  private newest: LruNode<K, V> | null = null;

  get size(): number {
    return this.nodes.size;
  }

  /** The value, made the most recent; undefined when absent. */
  get(key: K): V | undefined {
    const node = this.nodes.get(key);
    if (node === undefined) return undefined;
    if (node !== this.newest) {
      this.unlink(node);
      this.append(node);
    }
    return node.value;
  }

  /** The value, leaving the order as it is. */
  peek(key: K): V | undefined {
    return this.nodes.get(key)?.value;
  }

  /** Stores the value under the key as the most recent, replacing any value it had. */
  set(key: K, value: V): void {
    const node = this.nodes.get(key);
    if (node === undefined) {
      const fresh = new LruNode(key, value);
      this.nodes.set(key, fresh);
      this.append(fresh);
      return;
    }
    node.value = value;
    if (node !== this.newest) {
      this.unlink(node);
      this.append(node);
    }
  }

  delete(key: K): boolean {
    const node = this.nodes.get(key);
    if (node === undefined) return false;
    this.nodes.delete(key);
    this.unlink(node);
    return true;
  }

  /** The least recently used key; undefined when empty. */
  oldestKey(): K | undefined {
    return this.oldest?.key;
  }

  clear(): void {
    this.nodes.clear();
    this.oldest = null;
    this.newest = null;
  }

  /** Keys from the least to the most recent (for tests and diagnostics; O(size)). */
  keysByAge(): K[] {
    const keys: K[] = [];
    for (let node = this.oldest; node !== null; node = node.newer) keys.push(node.key);
    return keys;
  }

  private unlink(node: LruNode<K, V>): void {
    if (node.older === null) this.oldest = node.newer;
    else node.older.newer = node.newer;
    if (node.newer === null) this.newest = node.older;
    else node.newer.older = node.older;
    node.older = null;
    node.newer = null;
  }

  private append(node: LruNode<K, V>): void {
    node.older = this.newest;
    if (this.newest === null) this.oldest = node;
    else this.newest.newer = node;
    this.newest = node;
  }
}

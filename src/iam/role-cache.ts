import { LRUCache } from 'lru-cache';
import type { Metrics } from '../metrics/registry.js';

export interface RoleCacheOptions {
  ttlMs: number;
  /** Past this many namespaces the least recently used entry is dropped. */
  maxEntries?: number;
  /** A monotonic clock in milliseconds (performance.now by default); for tests. */
  now?: () => number;
  metrics?: Pick<Metrics, 'roleCacheHits' | 'roleCacheMisses'>;
}

const DEFAULT_MAX_ENTRIES = 50_000;

/**
 * Roles verified in IAM, per namespace, for a while, so that the UPDATEs that set a Profile's
 * plugin do not touch IAM. Never consulted for a CREATE: the role may have been deleted since
 * (by the leader, as an orphan, or by hand), and a CREATE must find out. The configuration is
 * fixed for the life of a process, so a namespace's derived role cannot change under an entry;
 * the ARN is checked anyway, so an entry only ever answers for the role it verified.
 */
export class RoleCache {
  /** Undefined when the TTL is zero: nothing is cached. */
  private readonly entries: LRUCache<string, string> | undefined;
  private readonly metrics: RoleCacheOptions['metrics'];

  constructor(options: RoleCacheOptions) {
    this.metrics = options.metrics;
    if (options.ttlMs <= 0) return;
    this.entries = new LRUCache<string, string>({
      max: Math.max(1, options.maxEntries ?? DEFAULT_MAX_ENTRIES),
      ttl: options.ttlMs,
      // Read the clock on every check: an entry must not outlive its TTL by a cached reading.
      ttlResolution: 0,
      ...(options.now === undefined ? {} : { perf: { now: options.now } }),
    });
  }

  /**
   * True when `roleArn` was verified for `namespace` and the entry has not expired. Counted as an
   * admission's hit or miss unless `count` is false (a re-check by the same admission).
   */
  has(namespace: string, roleArn: string, count = true): boolean {
    const hit = this.entries?.get(namespace) === roleArn;
    if (count) (hit ? this.metrics?.roleCacheHits : this.metrics?.roleCacheMisses)?.inc();
    return hit;
  }

  set(namespace: string, roleArn: string): void {
    this.entries?.set(namespace, roleArn);
  }

  delete(namespace: string): void {
    this.entries?.delete(namespace);
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }
}

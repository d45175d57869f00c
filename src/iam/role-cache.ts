import type { Metrics } from '../metrics/registry.js';

export interface CachedRole {
  roleArn: string;
  expiresAt: number;
}

export interface RoleCacheOptions {
  ttlMs: number;
  /** Past this many namespaces the least recently stored entry is dropped. */
  maxEntries?: number;
  now?: () => number;
  metrics?: Pick<Metrics, 'roleCacheHits' | 'roleCacheMisses'>;
}

export const DEFAULT_MAX_ENTRIES = 50_000;

/**
 * Roles verified in IAM, per namespace, for a while. Profile UPDATEs are frequent and must not
 * touch IAM. The configuration is fixed for the life of a process, so a namespace's derived role
 * cannot change under an entry; the ARN is checked anyway, so an entry only ever answers for the
 * role it verified.
 */
export class RoleCache {
  // Map keeps insertion order, and set() re-inserts, so the first key is the oldest entry.
  private readonly entries = new Map<string, CachedRole>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly metrics: RoleCacheOptions['metrics'];

  constructor(options: RoleCacheOptions) {
    this.ttlMs = options.ttlMs;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
  }

  /**
   * True when `roleArn` was verified for `namespace` and the entry has not expired. Counted as an
   * admission's hit or miss unless `count` is false (a re-check by the same admission).
   */
  has(namespace: string, roleArn: string, count = true): boolean {
    const entry = this.entries.get(namespace);
    const now = this.now();
    if (entry !== undefined && entry.expiresAt <= now) this.entries.delete(namespace);
    const hit = entry !== undefined && entry.roleArn === roleArn && entry.expiresAt > now;
    if (count) (hit ? this.metrics?.roleCacheHits : this.metrics?.roleCacheMisses)?.inc();
    return hit;
  }

  set(namespace: string, roleArn: string): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(namespace);
    this.entries.set(namespace, { roleArn, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(namespace: string): void {
    this.entries.delete(namespace);
  }

  get size(): number {
    return this.entries.size;
  }
}

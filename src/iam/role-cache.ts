import { createHash } from 'node:crypto';
import type { RoleSpec } from '../core/role-spec.js';
import type { Metrics } from '../metrics/registry.js';

export interface CachedRole {
  fingerprint: string;
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
 * touch IAM; the fingerprint makes a configuration change (new bucket, new trust) miss at once
 * instead of waiting out the TTL.
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

  /** The cached role ARN when `namespace` was verified with this exact spec and has not expired. */
  get(namespace: string, fingerprint: string): string | undefined {
    const entry = this.entries.get(namespace);
    if (entry !== undefined && entry.expiresAt <= this.now()) this.entries.delete(namespace);
    const hit =
      entry !== undefined && entry.fingerprint === fingerprint && entry.expiresAt > this.now();
    if (hit) {
      this.metrics?.roleCacheHits.inc();
      return entry.roleArn;
    }
    this.metrics?.roleCacheMisses.inc();
    return undefined;
  }

  set(namespace: string, fingerprint: string, roleArn: string): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(namespace);
    this.entries.set(namespace, { fingerprint, roleArn, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(namespace: string): void {
    this.entries.delete(namespace);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * A stable hash of everything the webhook wants true in IAM for a namespace. Object keys are
 * sorted so two equal specs built in a different order hash alike.
 */
export function roleSpecFingerprint(spec: RoleSpec): string {
  const content = {
    roleName: spec.roleName,
    rolePath: spec.rolePath,
    roleArn: spec.roleArn,
    trustPolicy: spec.trustPolicy,
    s3Policy: spec.s3Policy,
    tags: spec.tags,
    permissionsBoundary: spec.permissionsBoundary ?? null,
    maxSessionDuration: spec.maxSessionDuration ?? null,
  };
  return createHash('sha256').update(stableStringify(content)).digest('hex');
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const fields = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify(record[key])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

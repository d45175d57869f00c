/**
 * Deduplication and rate limiting of Kubernetes Events, as client-go's recorders do it
 * (tools/events and tools/record's EventCorrelator), as plain data: no I/O, the time passed in.
 *
 * - The same event again (same object, type, reason, action, note) is not a new object: the
 *   first one becomes a series and its `series.count` / `series.lastObservedTime` are patched.
 * - Each object has a token bucket (burst 25, one token every 5 minutes, client-go's spam filter
 *   defaults): a new event without a token is dropped; a repeat without a token is only counted,
 *   and the count is written with the next repeat that gets one.
 * - Both caches are LRUs of bounded size, so memory stays bounded whatever the objects.
 */
import { LRUCache } from 'lru-cache';
import { formatMicroTime } from './micro-time.js';

export type EventType = 'Normal' | 'Warning';

/** The object an event is about (`regarding`). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  /** Present when known: `kubectl describe` matches events on it. */
  uid?: string | undefined;
}

export interface EventIntent {
  regarding: ObjectRef;
  type: EventType;
  /** CamelCase, why the event happened (at most 128 characters). */
  reason: string;
  /** CamelCase, what was done or tried (at most 128 characters). */
  action: string;
  /** For a person; cut to the API server's 1 KiB limit. */
  note: string;
}

/** One Event object as it should be on the API server. */
export interface EventRecord {
  key: string;
  name: string;
  intent: EventIntent;
  /** MicroTime of the first occurrence. */
  eventTime: string;
  series?: { count: number; lastObservedTime: string } | undefined;
}

export type Correlation =
  | { kind: 'create'; record: EventRecord }
  | { kind: 'patch'; record: EventRecord }
  /** Nothing to write now: `new` events are dropped, `repeat`s counted for a later patch. */
  | { kind: 'rate-limited'; repeat: boolean };

export interface CorrelatorOptions {
  /** Entries in each LRU (series and token buckets); client-go's is 4096. */
  maxEntries?: number;
  /** Events an object may have at once. */
  burst?: number;
  /** Milliseconds per new token. */
  refillMs?: number;
}

/** The API server refuses longer notes (in bytes, as Go counts a string). */
export const NOTE_LIMIT_BYTES = 1024;

interface Series {
  name: string;
  intent: EventIntent;
  eventTime: string;
  count: number;
  lastObservedMicros: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class EventCorrelator {
  readonly #series: LRUCache<string, Series>;
  readonly #buckets: LRUCache<string, Bucket>;
  readonly #burst: number;
  readonly #refillMs: number;

  constructor(options: CorrelatorOptions = {}) {
    const max = options.maxEntries ?? 4096;
    this.#series = new LRUCache({ max });
    this.#buckets = new LRUCache({ max });
    this.#burst = options.burst ?? 25;
    this.#refillMs = options.refillMs ?? 300_000;
  }

  /** What to write for one occurrence of `intent` at `nowMicros` (µs since the epoch). */
  observe(intent: EventIntent, nowMicros: number): Correlation {
    const clean = { ...intent, note: truncateUtf8(intent.note, NOTE_LIMIT_BYTES) };
    const key = eventKey(clean);
    const allowed = this.#take(objectKey(clean.regarding), nowMicros / 1000);
    const known = this.#series.get(key);
    if (known !== undefined) {
      known.count++;
      known.lastObservedMicros = nowMicros;
      if (!allowed) return { kind: 'rate-limited', repeat: true };
      return { kind: 'patch', record: recordOf(key, known) };
    }
    if (!allowed) return { kind: 'rate-limited', repeat: false };
    const series: Series = {
      name: `${clean.regarding.name}.${(BigInt(nowMicros) * 1000n).toString(16)}`,
      intent: clean,
      eventTime: formatMicroTime(nowMicros),
      count: 1,
      lastObservedMicros: nowMicros,
    };
    this.#series.set(key, series);
    return { kind: 'create', record: recordOf(key, series) };
  }

  /**
   * The write of a new event failed for good: the next occurrence creates it afresh instead of
   * patching an object that does not exist.
   */
  forget(key: string): void {
    this.#series.delete(key);
  }

  /** Entries held, for tests of the bound. */
  get size(): { series: number; buckets: number } {
    return { series: this.#series.size, buckets: this.#buckets.size };
  }

  #take(key: string, nowMs: number): boolean {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, atMs: nowMs };
    const elapsed = Math.max(0, nowMs - bucket.atMs);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + elapsed / this.#refillMs);
    bucket.atMs = Math.max(bucket.atMs, nowMs);
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    return allowed;
  }
}

function recordOf(key: string, series: Series): EventRecord {
  return {
    key,
    name: series.name,
    intent: series.intent,
    eventTime: series.eventTime,
    ...(series.count > 1
      ? {
          series: {
            count: series.count,
            lastObservedTime: formatMicroTime(series.lastObservedMicros),
          },
        }
      : {}),
  };
}

/** Isomorphic events share a key; the note is part of it (tools/record's rule), so a different
 * drift is its own event rather than a count on an older message. */
function eventKey(intent: EventIntent): string {
  const { regarding: r } = intent;
  return JSON.stringify([
    r.apiVersion,
    r.kind,
    r.name,
    r.uid ?? '',
    intent.type,
    intent.reason,
    intent.action,
    intent.note,
  ]);
}

function objectKey(ref: ObjectRef): string {
  return JSON.stringify([ref.apiVersion, ref.kind, ref.name, ref.uid ?? '']);
}

/** At most `limit` UTF-8 bytes, cut at a character boundary, marked with an ellipsis. */
export function truncateUtf8(text: string, limit: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= limit) return text;
  const ellipsis = '…';
  const budget = limit - encoder.encode(ellipsis).length;
  let bytes = 0;
  let cut = 0;
  for (const char of text) {
    const size = encoder.encode(char).length;
    if (bytes + size > budget) break;
    bytes += size;
    cut += char.length;
  }
  return text.slice(0, cut) + ellipsis;
}

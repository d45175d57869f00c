import { parseDuration } from '../core/duration.js';

/** The API server's default webhook timeout, used when a request carries no `?timeout=`. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Time kept back for writing the answer and the network, so it arrives before the API server gives up. */
const MARGIN_FRACTION = 0.15;
const MIN_MARGIN_MS = 250;

/**
 * Parses the API server's `timeout` query parameter (a Go duration such as `10s` or `500ms`,
 * or bare seconds) into milliseconds; anything unreadable falls back to the default.
 */
export function parseTimeout(value: unknown): number {
  if (typeof value !== 'string' || value.trim() === '') return DEFAULT_TIMEOUT_MS;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : parseDuration(value);
  return ms !== undefined && ms > 0 && ms <= 30 * 60_000 ? ms : DEFAULT_TIMEOUT_MS;
}

/** How long the work of one admission may take, given the API server's timeout. */
export function workBudget(timeoutMs: number): number {
  const margin = Math.max(MIN_MARGIN_MS, timeoutMs * MARGIN_FRACTION);
  return Math.max(50, timeoutMs - margin);
}

/**
 * Kubernetes' MicroTime on the wire: RFC 3339 in UTC with exactly six fractional digits
 * (`2026-12-01T21:45:21.123456Z`). The API server parses it with Go's
 * `2006-01-02T15:04:05.000000Z07:00` layout, which refuses any other number of digits, so
 * JavaScript's millisecond `toISOString()` cannot be sent as one.
 */
export const MICRO_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Formats microseconds since the Unix epoch as a MicroTime. */
export function formatMicroTime(epochMicros: number): string {
  if (!Number.isSafeInteger(epochMicros) || epochMicros < 0) {
    throw new RangeError(`not a MicroTime: ${epochMicros} µs since the epoch`);
  }
  const millis = Math.floor(epochMicros / 1000);
  const iso = new Date(millis).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (iso.length !== 24) throw new RangeError(`not a MicroTime: year out of range in ${iso}`);
  const fraction = String(epochMicros % 1_000_000).padStart(6, '0');
  return `${iso.slice(0, 19)}.${fraction}Z`;
}

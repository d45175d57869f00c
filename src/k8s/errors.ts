import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of a failed API server call, when it got that far. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** The object changed since it was read (resourceVersion or a JSON patch `test` failed). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** The message the API server gave, not the client's whole response dump. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    try {
      const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown };
      if (typeof status?.message === 'string') return `${status.message} (HTTP ${err.code})`;
    } catch {
      // Not a Status object: fall back to the HTTP code.
    }
    return `HTTP ${err.code}`;
  }
  return (err as Error)?.message ?? String(err);
}

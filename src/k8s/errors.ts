import { ApiException } from '@kubernetes/client-node';

/**
 * A failed API server call, decoded once: the HTTP status and the Status object's reason and
 * message when the API server answered, else what the client saw (a timeout, a refused
 * connection). client-node hands the body over as text or as parsed JSON, depending on the call.
 */
export interface ApiFailure {
  /** HTTP status, when the request got an answer. */
  status: number | undefined;
  /** The Status reason (`NotFound`, `Conflict`), or the client error's name. */
  reason: string;
  /** The API server's message, or the client error's. */
  message: string;
  /** The transport's error code (`ECONNREFUSED`), when there is one. */
  code: string | undefined;
}

export function apiFailure(err: unknown): ApiFailure {
  if (err instanceof ApiException) {
    const status = statusObject(err.body);
    return {
      status: err.code,
      reason: typeof status?.reason === 'string' ? status.reason : `HTTP ${err.code}`,
      message: typeof status?.message === 'string' ? status.message : `HTTP ${err.code}`,
      code: undefined,
    };
  }
  const e = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode;
  return {
    status: typeof statusCode === 'number' ? statusCode : undefined,
    reason: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(err),
    code: typeof e.code === 'string' ? e.code : undefined,
  };
}

/** The HTTP status of a failed API server call, when it got that far. */
export function statusOf(err: unknown): number | undefined {
  return apiFailure(err).status;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** The object changed since it was read (resourceVersion or a JSON patch `test` failed). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** One line for logs: the API server's message and status, or what the client saw. */
export function apiMessage(err: unknown): string {
  const failure = apiFailure(err);
  if (failure.status !== undefined && err instanceof ApiException) {
    return failure.message === `HTTP ${failure.status}`
      ? failure.message
      : `${failure.message} (HTTP ${failure.status})`;
  }
  if (failure.reason === 'TimeoutError') return 'timed out';
  if (failure.reason === 'AbortError') return 'cancelled';
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof Error ? `${failure.message}: ${cause.message}` : failure.message;
}

function statusObject(body: unknown): { reason?: unknown; message?: unknown } | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null ? value : undefined;
}

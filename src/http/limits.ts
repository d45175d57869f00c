import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createServer, type Server as HttpsServer } from 'node:https';
import { ConnectionTracker, type ConnectionClose } from './connections.js';

/**
 * What the admission server grants a client. Its one real client is the API server: its webhook
 * calls give up after 30 s at most (the webhook's `timeoutSeconds`), it sends a request at once
 * after the TLS handshake (its own handshake timeout is 10 s), and it keeps idle connections for
 * 90 s (Go's `IdleConnTimeout`, which client-go keeps). Anything slower than that is not the API
 * server, and is cut off before it can hold sockets or memory.
 */
export interface ServerLimits {
  /** A request, headers and body, must have arrived within this. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this; above the client's own idle timeout. */
  keepAliveTimeoutMs: number;
  /**
   * Connections open at once. At the cap the one idle the longest is closed to make room; a new
   * one is refused only when none is idle.
   */
  maxConnections: number;
  /** Connections open at once from one client address; more are refused as they arrive. */
  maxConnectionsPerClient: number;
  /** Request bodies above SMALL_BODY_BYTES held at once, by their declared length. */
  bodyMemoryBytes: number;
}

export const MIB = 1024 * 1024;

export const DEFAULT_LIMITS: ServerLimits = {
  // The API server has given up by 30 s; a little more, so its own timeout is what it reports.
  requestTimeoutMs: 32_000,
  // Closing first would race the API server's reuse of the connection: its POST then fails
  // with EOF, and Go does not retry a POST.
  keepAliveTimeoutMs: 95_000,
  maxConnections: 256,
  // Half: one client address keeps the other half free, and the API server's own connections
  // (several instances behind one address, each with its pool) fit in it (docs/connections.md).
  maxConnectionsPerClient: 128,
  bodyMemoryBytes: 32 * MIB,
};

/** The API server writes its headers at once; a client that trickles them is not the API server. */
const MAX_HEADERS_TIMEOUT_MS = 10_000;
/** As long as the API server's own TLS handshake timeout. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Bodies up to this are not counted: a Profile's review is a few KiB, and their memory is bounded
 * by `maxConnections` (a connection carries one request body at a time).
 */
export const SMALL_BODY_BYTES = 64 * 1024;

const headersTimeoutMs = (limits: ServerLimits) =>
  Math.min(MAX_HEADERS_TIMEOUT_MS, limits.requestTimeoutMs);

/** Node checks the two timeouts on this interval; the default (30 s) would double them. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

/** The Node server options that carry `limits`, for http.createServer and https.createServer. */
export function nodeServerOptions(limits: ServerLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: headersTimeoutMs(limits),
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(
      CONNECTIONS_CHECKING_INTERVAL_MS,
      headersTimeoutMs(limits),
    ),
  };
}

/**
 * Sets what Node takes only as properties, after the server exists. Node's own connection cap
 * (dropping new connections) is for the ops port; the admission port has ConnectionTracker.
 */
export function applyLimits(
  server: HttpServer | HttpsServer,
  limits: ServerLimits,
  options: { nodeConnectionCap: boolean } = { nodeConnectionCap: true },
): void {
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = headersTimeoutMs(limits);
  if (options.nodeConnectionCap) server.maxConnections = limits.maxConnections;
}

/**
 * Memory for large request bodies, shared by all connections. A request reserves its declared
 * length (or the body limit, when it does not declare one) before its body is read, and gives it
 * back when its response is done; a request that does not fit is refused at once.
 */
export class BodyBudget {
  private reserved = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.reserved;
  }

  tryReserve(bytes: number): boolean {
    if (this.reserved + bytes > this.capacity) return false;
    this.reserved += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }
}

export type RefusalReason = 'max-connections' | 'per-client' | 'body-memory';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * The HTTPS server for the admission app, with the limits above in force. Large bodies are
 * admitted against `budget` before the app reads them; small ones pass straight through, so the
 * hot path pays one header lookup.
 */
export function createAdmissionServer(options: {
  tls: { cert: string | Buffer; key: string | Buffer };
  limits: ServerLimits;
  bodyLimit: number;
  budget: BodyBudget;
  onRefused: (reason: RefusalReason) => void;
  /** Told of every connection the server closes or refuses itself. */
  onConnectionClosed(reason: ConnectionClose): void;
  /** Given the server's connection accounting, once. */
  onConnections(tracker: ConnectionTracker): void;
  handler: Handler;
}): HttpsServer {
  const { limits, bodyLimit, budget, onRefused, handler } = options;
  const server = createServer(
    {
      ...options.tls,
      ...nodeServerOptions(limits),
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    },
    (request, response) => {
      const declared = request.headers['content-length'];
      // Without a length but chunked, the body may be as large as the app accepts.
      const bytes =
        declared !== undefined
          ? Number(declared)
          : request.headers['transfer-encoding'] !== undefined
            ? bodyLimit
            : 0;
      // Past the body limit the app refuses it (413) without reading it.
      if (!(bytes > SMALL_BODY_BYTES && bytes <= bodyLimit)) return handler(request, response);
      if (!budget.tryReserve(bytes)) {
        onRefused('body-memory');
        refuse(
          response,
          `the webhook holds as many large request bodies as its memory allows ` +
            `(${Math.round(budget.capacity / MIB)} MiB, --body-memory-mib); retry shortly`,
        );
        return;
      }
      response.once('close', () => budget.release(bytes));
      handler(request, response);
    },
  );
  applyLimits(server, limits, { nodeConnectionCap: false });
  const tracker = new ConnectionTracker(server, limits, (reason) => {
    if (reason !== 'idle-evicted') onRefused(reason);
    options.onConnectionClosed(reason);
  });
  options.onConnections(tracker);
  return server;
}

/** 503 and close: the client may still be sending the body, and it is not worth reading. */
function refuse(response: ServerResponse, message: string): void {
  const body = JSON.stringify({ error: 'ServiceUnavailable', message });
  response.writeHead(503, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'retry-after': '1',
    connection: 'close',
  });
  response.end(body);
}

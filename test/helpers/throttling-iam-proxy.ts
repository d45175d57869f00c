import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../../tools/dev/loopback.js';

/** IAM API actions that change something. */
export const IAM_WRITES = new Set([
  'CreateRole',
  'PutRolePolicy',
  'UpdateAssumeRolePolicy',
  'PutRolePermissionsBoundary',
  'UpdateRole',
  'TagRole',
  'UntagRole',
  'DeleteRolePolicy',
  'DeleteRole',
  'AttachRolePolicy',
  'DetachRolePolicy',
]);

export interface ThrottlingIamProxy {
  endpoint: string;
  /** Requests that reached IAM (moto), by action. */
  calls: Map<string, number>;
  /** Write requests that reached IAM. */
  writes(): number;
  /** Requests answered with Throttling instead. */
  throttled(): number;
  /** Answers every request with `Throttling` (HTTP 400) for this long from the next request on. */
  throttleFor(ms: number): void;
  /** When the last throttling began and when the last request reached IAM (ms since the epoch). */
  times(): { throttleStarted: number; lastForwarded: number };
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of moto that counts IAM calls by action and, when told,
 * answers `Throttling` the way IAM does, to show what the webhook does when IAM pushes back.
 */
export async function startThrottlingIamProxy(motoPort: number): Promise<ThrottlingIamProxy> {
  const calls = new Map<string, number>();
  let throttledCount = 0;
  let throttleUntil = 0;
  let armedMs = 0;
  let throttleStarted = 0;
  let lastForwarded = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? 'Unknown';
      if (armedMs > 0) {
        throttleStarted = Date.now();
        throttleUntil = throttleStarted + armedMs;
        armedMs = 0;
      }
      if (Date.now() < throttleUntil) {
        throttledCount++;
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(
          '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>' +
            '<Code>Throttling</Code><Message>Rate exceeded</Message></Error>' +
            '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>',
        );
        return;
      }
      calls.set(action, (calls.get(action) ?? 0) + 1);
      lastForwarded = Date.now();
      const upstream = request(
        {
          host: '127.0.0.1',
          port: motoPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    writes: () =>
      [...calls].filter(([action]) => IAM_WRITES.has(action)).reduce((sum, [, n]) => sum + n, 0),
    throttled: () => throttledCount,
    throttleFor(ms) {
      armedMs = ms;
    },
    times: () => ({ throttleStarted, lastForwarded }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import { createServer } from 'node:http';
import type { Test } from 'tap';
import { listenOnLoopback } from '../../tools/dev/loopback.js';

/*
 * Throttling, quotas, denials and bad credentials are faults moto does not produce on demand: a
 * small HTTP server on 127.0.0.1 that answers every request with one IAM error, in IAM's own wire
 * format, and counts the attempts the SDK makes.
 */
export async function failingIam(
  t: Test,
  status: number,
  code: string,
): Promise<{ endpoint: string; attempts: () => number }> {
  let attempts = 0;
  const server = createServer((req, res) => {
    attempts += 1;
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'text/xml' });
      res.end(
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">' +
          `<Error><Type>Sender</Type><Code>${code}</Code><Message>fault ${code}</Message></Error>` +
          '<RequestId>test</RequestId></ErrorResponse>',
      );
    });
  });
  const port = await listenOnLoopback(server);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { endpoint: `http://127.0.0.1:${port}`, attempts: () => attempts };
}

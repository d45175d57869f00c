import { Agent, request } from 'node:https';
import autocannon from 'autocannon';
import { Samples, type LatencySummary } from './stats.js';

export interface LoadOptions {
  url: string;
  body: string;
  connections: number;
  durationMs: number;
}

export interface LoadResult extends LatencySummary {
  requestsPerSecond: number;
  errors: number;
  non2xx: number;
  /** Every response of the run, the settling ones included (for CPU time per request). */
  responses: number;
}

/**
 * A fixed-duration, closed-loop load run (`connections` keep-alive connections, one request in
 * flight on each) with autocannon. Latencies come from autocannon's per-response event, which
 * carries sub-millisecond times; its own histogram keeps whole milliseconds only.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const samples = new Samples();
  let non2xx = 0;
  let responses = 0;
  // Connections open (TLS handshakes) at the start of every run; measure only after that.
  const settleMs = Math.min(250, options.durationMs / 5);
  const started = performance.now();
  const measureFrom = started + settleMs;
  const instance = autocannon({
    url: options.url,
    method: 'POST',
    body: options.body,
    headers: { 'content-type': 'application/json' },
    connections: options.connections,
    duration: (options.durationMs + settleMs) / 1000,
    // autocannon only notices the end of a run on its sampling tick (default 1 s).
    sampleInt: 50,
    timeout: 10,
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    responses++;
    if (status < 200 || status > 299) non2xx++;
    if (performance.now() >= measureFrom) samples.add(ms);
  });
  const result = await instance;
  const measuredMs = performance.now() - measureFrom;
  return {
    ...samples.summary(),
    requestsPerSecond: (samples.size / measuredMs) * 1000,
    errors: result.errors + result.timeouts,
    non2xx,
    responses,
  };
}

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** Single HTTPS requests over keep-alive connections that trust only the local CA. */
export class HttpsClient {
  private readonly agent: Agent;

  constructor(
    private readonly ca: string,
    maxSockets = 16,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  post(url: string, body: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          ca: this.ca,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - started,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`request to ${url} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

import t from 'tap';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { BODY_LIMIT } from '../../src/http/admission-app.js';
import { DEFAULT_LIMITS, MIB, SMALL_BODY_BYTES } from '../../src/http/limits.js';
import { startMoto } from '../helpers/moto.js';
import { createReview, profileWithRole } from '../helpers/reviews.js';
import { startTestWebhook, useMoto } from '../helpers/webhook.js';
import { metricValue, startServedWebhook, type ServedWebhook } from '../helpers/served-webhook.js';
import { profileReview } from '../../tools/dev/sample.js';

/*
 * Slow clients cannot hold the admission port's sockets or memory: slow senders are cut off
 * after the request timeout, large bodies share a fixed memory budget, connections are capped,
 * and normal admissions keep their latency meanwhile. The webhook runs as its own process
 * (dist/, built by `npm test` first) so its memory is its own; every client is on 127.0.0.1, and
 * every loop is bounded by count and time.
 */

t.setTimeout(180_000);

/** Short enough for a test; the default (32 s) is checked below. */
const REQUEST_TIMEOUT_S = 4;
/** Node checks the timeouts once a second; the rest is a shared, busy machine. */
const CUT_OFF_SLACK_MS = 3000;

type Served = ServedWebhook;
const serve = startServedWebhook;

/** VmRSS and VmHWM (peak) of a process, in bytes, from /proc. */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

const refusedCount = (served: Served, reason: string) =>
  metricValue(served, 'profile_irsa_http_refused_total', `reason="${reason}"`);

/** A client that sends a request piece by piece; it notes when and how the server ends it. */
interface Trickler {
  startedAt: number;
  /** When the server closed the connection (ms after start), if it did. */
  closedAfterMs?: number;
  /** The status line's code, if the server answered. */
  status?: number;
  bytesSent: number;
  closed: Promise<void>;
  destroy(): void;
}

function trickle(
  served: Served,
  options: {
    /** Sent at once after the handshake (may be empty). */
    head: string;
    /** Sent every `everyMs` after the head, until `sendForMs` has passed. */
    piece: Buffer | string;
    everyMs: number;
    sendForMs: number;
  },
): Trickler {
  const startedAt = performance.now();
  const socket: TLSSocket = connectTls({
    host: '127.0.0.1',
    port: served.port,
    ca: served.certs.caCert,
  });
  const state: Trickler = {
    startedAt,
    bytesSent: 0,
    closed: new Promise<void>((resolve) =>
      socket.once('close', () => {
        state.closedAfterMs = performance.now() - startedAt;
        clearInterval(timer);
        resolve();
      }),
    ),
    destroy: () => socket.destroy(),
  };
  let timer: NodeJS.Timeout | undefined;
  socket.on('error', () => undefined); // a reset is how some of these end
  socket.setEncoding('utf8');
  socket.once('data', (text: string) => {
    const code = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
    if (code) state.status = Number(code);
  });
  socket.once('secureConnect', () => {
    if (options.head) socket.write(options.head);
    state.bytesSent += Buffer.byteLength(options.head);
    timer = setInterval(() => {
      if (performance.now() - startedAt > options.sendForMs) return clearInterval(timer);
      // Never queue more than the server takes: the test process must not hold the bodies.
      if (socket.writable && socket.writableLength < 256 * 1024) {
        socket.write(options.piece);
        state.bytesSent += Buffer.byteLength(options.piece);
      }
    }, options.everyMs);
  });
  return state;
}

const head = (contentLength: number) =>
  'POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
  `Content-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`;

/** Sequential admissions over one keep-alive connection, as the API server sends them. */
async function admissionLatencies(served: Served, body: string, count: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let failures = 0;
  try {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          `${served.admissionUrl}/mutate?timeout=10s`,
          {
            method: 'POST',
            agent,
            ca: served.certs.caCert,
            headers: { 'content-type': 'application/json' },
            timeout: 10_000,
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (c: string) => (text += c));
            res.on('end', () => {
              const allowed = (JSON.parse(text) as { response?: { allowed?: boolean } }).response
                ?.allowed;
              resolve(allowed === true ? (res.statusCode ?? 0) : -1);
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error('admission timed out')));
        req.on('error', reject);
        req.end(body);
      });
      times.push(performance.now() - started);
      if (status !== 200) failures++;
    }
  } finally {
    agent.destroy();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    p90: sorted[Math.floor(sorted.length * 0.9)]!,
    failures,
  };
}

/** The cached UPDATE the profile controller sends all day: no IAM call. */
function hotUpdate(namespace: string, roleArn: string): string {
  const profile = profileWithRole(namespace, roleArn);
  return JSON.stringify(
    profileReview({ operation: 'UPDATE', object: profile, oldObject: profile }),
  );
}

t.test('the defaults fit the API server', async (t) => {
  t.ok(
    DEFAULT_LIMITS.requestTimeoutMs >= 30_000,
    'a request may take as long as the API server waits',
  );
  t.ok(DEFAULT_LIMITS.requestTimeoutMs <= 35_000, '… and barely longer');
  t.ok(
    DEFAULT_LIMITS.keepAliveTimeoutMs > 90_000,
    "idle connections outlive the API server's 90 s",
  );
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  useMoto(moto);
  const webhook = await startTestWebhook();
  t.teardown(() => webhook.stop());
  const server = webhook.server.admission.server;
  t.equal(server.requestTimeout, 32_000, 'request timeout 32 s');
  t.equal(
    server.requestTimeout,
    DEFAULT_LIMITS.requestTimeoutMs,
    'the configuration default is the server default',
  );
  t.equal(server.headersTimeout, 10_000, 'headers within 10 s');
  t.equal(server.keepAliveTimeout, 95_000, 'keep-alive 95 s');
  t.equal(server.keepAliveTimeout, DEFAULT_LIMITS.keepAliveTimeoutMs);
  t.equal(webhook.server.connections.limits.maxConnections, 256, 'at most 256 connections');
  t.equal(webhook.server.connections.limits.maxConnectionsPerClient, 128, '128 from one client');
  t.equal(DEFAULT_LIMITS.maxConnections, 256, 'the configuration default is the server default');
  t.equal(DEFAULT_LIMITS.maxConnectionsPerClient, 128);
  const ops = webhook.server.ops.server;
  t.equal(ops.requestTimeout, 32_000, 'the ops port has the same request timeout');
  t.equal(ops.maxConnections, 256, 'and connection cap');
  t.ok(BODY_LIMIT <= DEFAULT_LIMITS.bodyMemoryBytes, 'one review at the body limit always fits');
});

t.test('slow senders are cut off, and memory stays bounded while they trickle', async (t) => {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const served = await serve(t, moto, { REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_S) });
  const cutOffBy = REQUEST_TIMEOUT_S * 1000 + CUT_OFF_SLACK_MS;

  // A provisioned namespace, then its cached UPDATEs: the baseline, before any slow client.
  const created = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${served.admissionUrl}/mutate?timeout=10s`,
      { method: 'POST', ca: served.certs.caCert, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(createReview('team-slow')));
  });
  const roleArn = (
    JSON.parse(created) as { response: { auditAnnotations: Record<string, string> } }
  ).response.auditAnnotations['role-arn']!;
  const body = hotUpdate('team-slow', roleArn);
  await admissionLatencies(served, body, 20); // warm-up
  const baseline = await admissionLatencies(served, body, 40);
  t.equal(baseline.failures, 0, 'baseline admissions are answered');
  const before = await memoryOf(served.pid);

  // The attack: 50 connections that declare near-limit bodies and trickle them at 1.25 MiB/s
  // each, 50 that trickle small bodies, and a few that trickle headers or send nothing at all.
  const large = 7 * MIB;
  const sendForMs = REQUEST_TIMEOUT_S * 1000 + 2000;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const largeBodies = Array.from({ length: 50 }, () =>
    trickle(served, { head: head(large), piece: chunk, everyMs: 50, sendForMs }),
  );
  const smallBodies = Array.from({ length: 50 }, () =>
    trickle(served, {
      head: head(SMALL_BODY_BYTES - 1024),
      piece: 'x'.repeat(64),
      everyMs: 250,
      sendForMs,
    }),
  );
  const slowHeaders = Array.from({ length: 5 }, () =>
    trickle(served, {
      head: 'POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\n',
      piece: 'X-Slow: y\r\n',
      everyMs: 500,
      sendForMs,
    }),
  );
  const silent = Array.from({ length: 5 }, () =>
    trickle(served, { head: '', piece: '', everyMs: 1000, sendForMs: 0 }),
  );
  // Below TLS: a TCP connection that never starts the handshake.
  const tcpStarted = performance.now();
  const tcp = connectTcp(served.port, '127.0.0.1');
  tcp.on('error', () => undefined);
  const tcpClosed = new Promise<number>((resolve) =>
    tcp.once('close', () => resolve(performance.now() - tcpStarted)),
  );
  const everyone = [...largeBodies, ...smallBodies, ...slowHeaders, ...silent];
  t.teardown(() => {
    for (const c of everyone) c.destroy();
    tcp.destroy();
  });

  // Memory while they trickle, and normal admissions meanwhile.
  let peakRss = before.rss;
  const sampling = (async () => {
    const until = performance.now() + REQUEST_TIMEOUT_S * 1000;
    while (performance.now() < until) {
      peakRss = Math.max(peakRss, (await memoryOf(served.pid)).rss);
      await sleep(100);
    }
  })();
  await sleep(500);
  const open = everyone.filter((c) => c.closedAfterMs === undefined).length;
  const during = await admissionLatencies(served, body, 40);
  await sampling;
  const peak = Math.max(peakRss, (await memoryOf(served.pid)).peak);
  const grownMb = (peak - before.rss) / MIB;
  t.comment(
    `${open} attacking connections open; RSS ${(before.rss / MIB).toFixed(0)} MB before, ` +
      `peak growth ${grownMb.toFixed(0)} MB; admission median ${baseline.median.toFixed(2)} ms ` +
      `before, ${during.median.toFixed(2)} ms during (p90 ${baseline.p90.toFixed(2)} / ${during.p90.toFixed(2)})`,
  );
  t.ok(open >= 50, 'the small-body tricklers and those admitted are still open meanwhile');
  t.equal(during.failures, 0, 'every normal admission is answered meanwhile');
  t.ok(
    during.median <= Math.max(baseline.median * 4, baseline.median + 5),
    `admission latency holds (median ${during.median.toFixed(2)} ms vs ${baseline.median.toFixed(2)} ms)`,
  );
  // 50 × 7 MiB declared; what fits the default 32 MiB budget is let in, at most 4 bodies.
  t.ok(grownMb < 96, `memory stays bounded: grew ${grownMb.toFixed(0)} MB (< 96 MB)`);

  // Everyone is cut off by the request timeout (the silent ones by the header timeout, which is
  // no longer), whatever they still send.
  await Promise.all(everyone.map((c) => Promise.race([c.closed, sleep(cutOffBy + 2000)])));
  const late = everyone.filter((c) => c.closedAfterMs === undefined || c.closedAfterMs > cutOffBy);
  t.same(late.length, 0, `every slow client is cut off within ${cutOffBy} ms`);
  const admitted = largeBodies.filter((c) => c.status !== 503);
  const refused = largeBodies.filter((c) => c.status === 503);
  t.ok(admitted.length >= 1, `${admitted.length} large bodies were let in`);
  t.ok(
    admitted.length <= Math.floor(DEFAULT_LIMITS.bodyMemoryBytes / large),
    'no more than the body memory holds',
  );
  t.equal(refused.length + admitted.length, 50);
  t.ok(
    refused.every((c) => c.closedAfterMs! < (REQUEST_TIMEOUT_S * 1000) / 2),
    'a refused body is answered 503 and closed at once, not left to time out',
  );
  t.equal(await refusedCount(served, 'body-memory'), refused.length, 'and counted in metrics');
  for (const c of [...admitted, ...smallBodies]) {
    t.ok(
      c.closedAfterMs! >= REQUEST_TIMEOUT_S * 1000 - 200,
      'a trickled body is cut at the request timeout, not before',
    );
  }
  t.ok(
    [...admitted, ...smallBodies].every((c) => c.status === 408),
    'with 408 Request Timeout',
  );
  t.ok(
    [...slowHeaders, ...silent].every((c) => c.closedAfterMs! >= REQUEST_TIMEOUT_S * 1000 - 200),
    'slow and silent headers are cut at the header timeout',
  );
  // The TLS handshake has its own timeout (10 s), as long as the API server's.
  const tcpMs = await Promise.race([
    tcpClosed,
    sleep(10_000 + CUT_OFF_SLACK_MS + 1000).then(() => -1),
  ]);
  t.ok(
    tcpMs > 0 && tcpMs <= 10_000 + CUT_OFF_SLACK_MS,
    `a stalled TLS handshake is cut (${tcpMs.toFixed(0)} ms)`,
  );

  const afterwards = await admissionLatencies(served, body, 5);
  t.equal(afterwards.failures, 0, 'admissions are answered afterwards');
});

t.test(
  'idle keep-alive connections last the keep-alive timeout, not the header timeout',
  async (t) => {
    const moto = await startMoto();
    t.teardown(() => moto.stop());
    // Headers within 2 s; idle connections kept 4 s.
    const served = await serve(t, moto, {
      REQUEST_TIMEOUT_SECONDS: '2',
      KEEP_ALIVE_TIMEOUT_SECONDS: '4',
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const body = JSON.stringify(createReview('team-idle', { dryRun: true }));
    const post = () =>
      new Promise<{ status: number; reused: boolean; socket: TLSSocket }>((resolve, reject) => {
        const req = request(
          `${served.admissionUrl}/mutate?timeout=10s`,
          {
            method: 'POST',
            agent,
            ca: served.certs.caCert,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                reused: req.reusedSocket,
                socket: req.socket as TLSSocket,
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const first = await post();
    t.equal(first.status, 200);
    await sleep(3000);
    const second = await post();
    t.equal(second.status, 200, 'a request after 3 s idle is answered');
    t.ok(second.reused, 'on the same connection: the header timeout does not reap idle ones');
    const idleFrom = performance.now();
    const closedAfter = await Promise.race([
      new Promise<number>((resolve) =>
        second.socket.once('close', () => resolve(performance.now() - idleFrom)),
      ),
      sleep(4000 + 1000 + CUT_OFF_SLACK_MS + 1000).then(() => -1),
    ]);
    // Node adds a second to the socket's timeout so that the client, told `timeout=4`, closes first.
    t.ok(
      closedAfter >= 4000 - 200 && closedAfter <= 4000 + 1000 + CUT_OFF_SLACK_MS,
      `the server closes it after the keep-alive timeout (${closedAfter.toFixed(0)} ms)`,
    );
  },
);

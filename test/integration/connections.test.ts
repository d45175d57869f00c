import t from 'tap';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_LIMITS } from '../../src/http/limits.js';
import { profileReview } from '../../tools/dev/sample.js';
import { holdMany, TRICKLE_REQUEST } from '../helpers/held-connections.js';
import { startMoto } from '../helpers/moto.js';
import { profileWithRole } from '../helpers/reviews.js';
import { metricValue, startServedWebhook, type ServedWebhook } from '../helpers/served-webhook.js';

/*
 * Idle connections never cost a new caller its answer: at the cap the longest-idle connection is
 * closed to make room, one client address holds at most its share, and a new connection is
 * refused only when every slot is busy. The webhook runs in its own process; every client is on
 * 127/8 (distinct addresses stand for distinct clients), and every loop is bounded.
 */

t.setTimeout(240_000);

/** A fresh connection's admission is "prompt" well under the API server's 10 s default timeout. */
const PROMPT_MS = 2000;

/** The routine UPDATE the profile controller sends (plugins unchanged): no IAM call. */
const HOT_UPDATE = (() => {
  const profile = profileWithRole('team-conn', 'arn:aws:iam::123456789012:role/team-conn');
  return JSON.stringify(
    profileReview({ operation: 'UPDATE', object: profile, oldObject: profile }),
  );
})();

/** One admission on a fresh connection from `localAddress`: time from connect to answer. */
function freshAdmission(
  served: ServedWebhook,
  localAddress = '127.0.0.1',
): Promise<{ ms: number; allowed: boolean }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      `${served.admissionUrl}/validate?timeout=10s`,
      {
        method: 'POST',
        agent: false,
        localAddress,
        ca: served.certs.caCert,
        headers: { 'content-type': 'application/json', connection: 'close' },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          const review = JSON.parse(text) as { response?: { allowed?: boolean } };
          resolve({ ms: performance.now() - started, allowed: review.response?.allowed === true });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('admission timed out')));
    req.on('error', reject);
    req.end(HOT_UPDATE);
  });
}

async function freshAdmissions(served: ServedWebhook, count: number) {
  const times: number[] = [];
  let refused = 0;
  for (let i = 0; i < count; i++) {
    const { ms, allowed } = await freshAdmission(served);
    times.push(ms);
    if (!allowed) refused++;
  }
  const sorted = times.sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    p90: sorted[Math.floor(sorted.length * 0.9)]!,
    max: sorted.at(-1)!,
    refused,
  };
}

const closed = (served: ServedWebhook, reason: string) =>
  metricValue(served, 'profile_irsa_http_connections_closed_total', `reason="${reason}"`);
const connections = (served: ServedWebhook, state: string) =>
  metricValue(served, 'profile_irsa_http_connections', `state="${state}"`);

const moto = await startMoto();
t.teardown(() => moto.stop());

t.test('idle connections past the cap make room, oldest first', async (t) => {
  // One client with two addresses, each allowed every slot, so that only the cap is at work.
  const cap = DEFAULT_LIMITS.maxConnections;
  const served = await startServedWebhook(t, moto, { MAX_CONNECTIONS_PER_CLIENT: String(cap) });
  const held = [
    ...(await holdMany(t, served, '127.0.0.2', 150)),
    ...(await holdMany(t, served, '127.0.0.3', cap + 44 - 150)),
  ];
  t.equal(held.filter((h) => h.refused).length, 0, 'none is refused: there are idle ones');
  const closedOnes = held.flatMap((h, i) => (h.closed ? [i] : []));
  t.same(
    closedOnes,
    Array.from({ length: 44 }, (_, i) => i),
    'the 44 idle the longest were closed to make room',
  );
  t.equal(await connections(served, 'idle'), cap, 'the cap holds');

  const fresh = await freshAdmission(served, '127.0.0.4');
  t.ok(fresh.allowed, 'a fresh connection from another client is answered');
  t.ok(fresh.ms < PROMPT_MS, `promptly (${fresh.ms.toFixed(0)} ms)`);
  await sleep(300);
  t.ok(held[44]!.closed, 'by closing the next idle one');
  t.equal(await closed(served, 'idle-evicted'), 45, 'every close is counted');
  t.equal(await closed(served, 'max-connections'), 0, 'and nothing refused');
});

t.test('one client beyond its share is refused while others are served', async (t) => {
  const served = await startServedWebhook(t, moto, {});
  const share = DEFAULT_LIMITS.maxConnectionsPerClient;
  // Busy connections (bodies trickling) cannot be closed to make room; the share bounds them.
  const busy = await holdMany(t, served, '127.0.0.2', share + 20, TRICKLE_REQUEST);
  t.equal(busy.filter((h) => h.refused).length, 20, `20 refused past the share of ${share}`);
  t.equal(
    busy.slice(0, share).filter((h) => h.refused || h.closed).length,
    0,
    'the first ones are kept',
  );
  t.equal(await connections(served, 'active'), share, 'it holds its share, busy');
  t.equal(await closed(served, 'per-client'), 20, 'the refusals are counted');
  t.equal(
    await metricValue(served, 'profile_irsa_http_refused_total', 'reason="per-client"'),
    20,
    'as refusals',
  );

  // Another client fills the rest with idle connections, and more.
  const idle = await holdMany(t, served, '127.0.0.3', share + 10);
  t.equal(idle.filter((h) => h.refused).length, 10, 'the other client is held to its share too');

  const fresh = await freshAdmissions(served, 10);
  t.equal(fresh.refused, 0, 'fresh connections from a third client are answered');
  t.ok(fresh.max < PROMPT_MS, `promptly (max ${fresh.max.toFixed(0)} ms)`);
});

t.test('with every slot busy, a new connection is refused, and counted', async (t) => {
  const served = await startServedWebhook(t, moto, {
    MAX_CONNECTIONS: '20',
    REQUEST_TIMEOUT_SECONDS: '20',
  });
  const a = await holdMany(t, served, '127.0.0.2', 10, TRICKLE_REQUEST);
  const b = await holdMany(t, served, '127.0.0.3', 10, TRICKLE_REQUEST);
  t.equal([...a, ...b].filter((h) => h.refused || h.closed).length, 0, '20 busy connections');
  const late = await holdMany(t, served, '127.0.0.4', 3);
  t.equal(late.filter((h) => h.refused).length, 3, 'a third client is refused');
  t.equal(await closed(served, 'max-connections'), 3, 'counted as max-connections');
  t.equal(
    await metricValue(served, 'profile_irsa_http_refused_total', 'reason="max-connections"'),
    3,
  );
  for (const h of [...a, ...b]) h.socket.destroy();
  await sleep(300);
  const after = await freshAdmissions(served, 3);
  t.equal(after.refused, 0, 'once the busy ones are gone, admissions are answered');
  t.equal(await connections(served, 'active'), 0, 'and the gauge is back to none active');
});

t.test("a fresh connection's admission while idle connections are held", async (t) => {
  const served = await startServedWebhook(t, moto, {});
  await freshAdmissions(served, 5); // warm-up
  const rows: string[] = [];
  const baseline = await freshAdmissions(served, 20);
  rows.push(
    `none held: median ${baseline.median.toFixed(1)} ms, p90 ${baseline.p90.toFixed(1)} ms`,
  );
  let address = 10;
  let attempted = 0;
  for (const target of [300, 1000]) {
    // As many clients as it takes: each address holds at most its share.
    while (attempted < target) {
      await holdMany(t, served, `127.0.0.${address++}`, 100);
      attempted += 100;
    }
    const during = await freshAdmissions(served, 20);
    rows.push(
      `${target} idle opened (${await connections(served, 'idle')} held): ` +
        `median ${during.median.toFixed(1)} ms, p90 ${during.p90.toFixed(1)} ms, ` +
        `max ${during.max.toFixed(1)} ms`,
    );
    t.equal(during.refused, 0, `every fresh admission is answered with ${target} opened`);
    t.ok(during.p90 < PROMPT_MS, `promptly (p90 ${during.p90.toFixed(0)} ms)`);
  }
  t.comment(`fresh-connection admission: ${rows.join('; ')}`);
});

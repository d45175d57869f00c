import t from 'tap';
import { plainProfile } from '../../tools/dev/cluster.js';
import { serveWebhook, startE2eControlPlane, startE2eMoto } from '../helpers/e2e.js';
import { holdMany, TRICKLE_REQUEST } from '../helpers/held-connections.js';

/*
 * The API server keeps admitting Profiles while other clients hold more idle connections than
 * the cap and trickle requests on as many connections as they may. The API server reaches the
 * webhook from 127.0.0.1; the other clients use 127.0.0.2 and up (loopback on Linux).
 */

t.setTimeout(240_000);

await startE2eMoto();
const { kc, api } = await startE2eControlPlane();
const webhook = await serveWebhook(kc);
const target = { port: Number(new URL(webhook.url).port), certs: webhook.certs };

t.test('Profiles are admitted while other clients hold and trickle connections', async (t) => {
  const { maxConnections, maxConnectionsPerClient } = webhook.server.connections.limits;
  const busy = await holdMany(
    t,
    target,
    '127.0.0.5',
    maxConnectionsPerClient + 10,
    TRICKLE_REQUEST,
  );
  t.equal(busy.filter((h) => h.refused).length, 10, 'the trickler is held to its share');
  for (const address of ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
    await holdMany(t, target, address, 100);
  }
  t.equal(webhook.server.connections.open, maxConnections, 'every slot is taken');
  for (const name of ['team-conn-a', 'team-conn-b', 'team-conn-c']) {
    const created = (await api.create(plainProfile(name))) as { spec?: { plugins?: unknown[] } };
    t.equal(created.spec?.plugins?.length, 1, `${name} is admitted, with its plugin`);
  }
  t.equal(webhook.server.connections.open, maxConnections, 'by closing idle connections');
});

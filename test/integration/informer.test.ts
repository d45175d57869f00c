// The supervised informer against the real kube-apiserver, through a TCP proxy that can cut every
// connection: client-node's ListWatch stops for good on such an error; ours restarts, resumes
// from its last resourceVersion and keeps delivering events, and a list that fails at start is
// retried until it succeeds. The Profiles' first list is read in pages to its end, and the cache
// keeps only what the reconciler reads of each Profile.

import t from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { SupervisedInformer } from '../../src/k8s/informer.js';
import { PROFILES_PATH, ProfileClient, viewOf, type Profile } from '../../src/k8s/profiles.js';
import { listenOnLoopback } from '../../tools/dev/loopback.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { kubeConfigVia } from '../helpers/electors.js';

const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const api = profiles(cp.kubeConfig);

/** A TCP proxy to the API server that can refuse connections and cut the open ones. */
async function startCuttingProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `https://127.0.0.1:${port}`,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    refuse(on: boolean) {
      refusing = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const apiPort = Number(new URL(cp.server).port);
const proxy = await startCuttingProxy(apiPort);
t.teardown(() => proxy.close());
const via = kubeConfigVia(cp.kubeConfig, proxy.url);

async function waitFor(what: string, check: () => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

t.test('cut connections: the informer restarts and keeps delivering events', async (t) => {
  const seen = new Set<string>();
  const gone = new Set<string>();
  const logs: string[] = [];
  const informer = new SupervisedInformer<Profile>({
    kubeConfig: via,
    path: PROFILES_PATH,
    list: new ProfileClient(via).listForWatch,
    name: 'profiles',
    logger: pino({ level: 'warn' }, { write: (line: string) => logs.push(line) }),
    minBackoffMs: 100,
    maxBackoffMs: 500,
    handlers: {
      add: (p) => seen.add(p.metadata!.name!),
      delete: (p) => gone.add(p.metadata!.name!),
    },
  });
  const stop = new AbortController();
  t.teardown(async () => {
    stop.abort();
    await informer.stop();
  });
  await informer.start(stop.signal);
  await api.create(plainProfile('before-cut'));
  await waitFor('the first event', () => seen.has('before-cut'));

  for (let round = 1; round <= 3; round++) {
    proxy.cut();
    await sleep(200);
    await api.create(plainProfile(`after-cut-${round}`));
    await waitFor(`an event after cut ${round}`, () => seen.has(`after-cut-${round}`));
  }
  await api.delete('after-cut-1');
  await waitFor('a delete after the cuts', () => gone.has('after-cut-1'));
  t.ok(seen.has('after-cut-3'), 'events keep coming after every cut');
  t.ok(
    logs.some((line) => line.includes('restarting the informer')),
    'where the library itself would have stopped, it was restarted',
  );
  t.same(
    informer
      .list()
      .map((p) => p.metadata!.name)
      .sort(),
    ['after-cut-2', 'after-cut-3', 'before-cut'],
    'the cache is whole',
  );
});

t.test('an API server that is down at start: start() retries until it can list', async (t) => {
  proxy.refuse(true);
  const informer = new SupervisedInformer<Profile>({
    kubeConfig: via,
    path: PROFILES_PATH,
    list: new ProfileClient(via).listForWatch,
    name: 'profiles',
    logger: pino({ level: 'silent' }),
    minBackoffMs: 100,
    maxBackoffMs: 300,
    handlers: {},
  });
  const stop = new AbortController();
  t.teardown(async () => {
    stop.abort();
    await informer.stop();
  });
  let synced = false;
  const started = informer.start(stop.signal).then(() => (synced = true));
  await sleep(1000);
  t.notOk(synced, 'not synced while the API server cannot be reached');
  proxy.refuse(false);
  await started;
  t.ok(informer.list().length >= 3, 'synced once it could list');
});

t.test('stop ends it for good, and an aborted start rejects', async (t) => {
  proxy.refuse(true);
  const informer = new SupervisedInformer<Profile>({
    kubeConfig: via,
    path: PROFILES_PATH,
    list: new ProfileClient(via).listForWatch,
    name: 'profiles',
    logger: pino({ level: 'silent' }),
    handlers: {},
  });
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 300);
  await t.rejects(informer.start(stop.signal));
  await informer.stop();
  proxy.refuse(false);
});

t.test(
  'the first list is read page by page; the cache keeps only what the plan reads',
  async (t) => {
    for (let i = 0; i < 5; i++) {
      await api.create({
        ...plainProfile(`paged-${i}`),
        metadata: {
          name: `paged-${i}`,
          labels: { team: 'paged' },
          annotations: { note: 'x'.repeat(2000) },
        },
      });
    }
    const expected = (await new ProfileClient(cp.kubeConfig).list()).map((p) => p.name).sort();
    t.ok(expected.length >= 8, 'more Profiles than four pages of two');
    const updated: Profile[] = [];
    const informer = new SupervisedInformer<Profile>({
      kubeConfig: cp.kubeConfig,
      path: PROFILES_PATH,
      list: new ProfileClient(cp.kubeConfig, { pageSize: 2 }).listForWatch,
      transform: viewOf,
      name: 'profiles',
      logger: pino({ level: 'silent' }),
      handlers: { update: (p) => updated.push(p) },
    });
    const stop = new AbortController();
    t.teardown(async () => {
      stop.abort();
      await informer.stop();
    });
    await informer.start(stop.signal);
    t.same(
      informer
        .list()
        .map((p) => p.metadata!.name)
        .sort(),
      expected,
      'every Profile, in pages of two',
    );
    const cached = informer.list().find((p) => p.metadata?.name === 'paged-0')!;
    t.same(Object.keys(cached.metadata!).sort(), ['name', 'resourceVersion', 'uid']);
    t.same(cached.spec, { owner: { kind: 'User', name: 'paged-0@example.com' } });

    // The watch starts from the paged list's snapshot and its events are trimmed alike.
    const stored = await api.get('paged-1');
    await api.replace({
      ...stored,
      spec: { ...stored.spec, plugins: [{ kind: 'WorkloadIdentity', spec: {} }] },
    });
    await waitFor('the update', () => updated.some((p) => p.metadata?.name === 'paged-1'));
    const event = updated.find((p) => p.metadata?.name === 'paged-1')!;
    t.notOk('annotations' in event.metadata!, 'no annotations');
    t.notOk('managedFields' in event.metadata!, 'no managedFields');
    t.same(event.spec, {
      owner: { kind: 'User', name: 'paged-1@example.com' },
      plugins: [{ kind: 'WorkloadIdentity', spec: {} }],
    });
  },
);

// Kubernetes API clients reuse their connections. client-node opens a new TLS connection for
// every request (it builds a new agent each time) and leaves it open; a reconciler that makes
// thousands of requests per pass then held hundreds of megabytes of connection state. Counted
// here with a TCP proxy in front of the real kube-apiserver: many requests, few connections.

import t from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { CoreV1Api } from '@kubernetes/client-node';
import { makeApiClient } from '../../src/k8s/api-client.js';
import { listenOnLoopback } from '../../tools/dev/loopback.js';
import { startControlPlane } from '../../tools/dev/controlplane.js';
import { kubeConfigVia } from '../helpers/electors.js';

const REQUESTS = 40;

const cp = await startControlPlane();
t.teardown(() => cp.stop());

let accepted = 0;
const sockets = new Set<Socket>();
const proxy = createServer((client) => {
  accepted++;
  const upstream = connect(Number(new URL(cp.server).port), '127.0.0.1');
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  }
  client.pipe(upstream).pipe(client);
});
const port = await listenOnLoopback(proxy);
t.teardown(
  () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      proxy.close(() => resolve());
    }),
);
const via = kubeConfigVia(cp.kubeConfig, `https://127.0.0.1:${port}`);

t.test(`${REQUESTS} requests of one client share their connections`, async (t) => {
  const api = makeApiClient(via, CoreV1Api);
  for (let i = 0; i < REQUESTS; i++) await api.listNamespace({ limit: 1 });
  await Promise.all(Array.from({ length: 4 }, () => api.listNamespace({ limit: 1 })));
  t.ok(accepted <= 4, `${accepted} connections for ${REQUESTS + 4} requests`);
});

// No call can hang the reconciler: against the real kube-apiserver and moto, each behind a proxy
// that stops answering mid-pass, the pass is aborted within --reconcile-pass-timeout, counted in
// profile_irsa_reconcile_passes_aborted_total, and the next pass succeeds once the proxy answers.

import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { policySettings, roleSettings } from '../../src/config/settings.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { buildReconciler } from '../../src/reconcile/build.js';
import { ReconcileController } from '../../src/reconcile/controller.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { kubeConfigVia } from '../helpers/electors.js';
import { startIamProxy } from '../helpers/iam-proxy.js';
import { MOTO_ACCOUNT_ID, startMoto } from '../helpers/moto.js';
import { ISSUER, REQUIRED_ENV } from '../helpers/settings.js';
import { startSwitchableProxy } from '../helpers/switchable-proxy.js';
import { useMoto } from '../helpers/webhook.js';

const PASS_TIMEOUT_MS = 3000;
/** Generous: the machine is shared. */
const SLACK_MS = 5000;

const moto = await startMoto();
t.teardown(() => moto.stop());
const iamProxy = await startIamProxy(moto.endpoint);
t.teardown(() => iamProxy.close());
useMoto({ endpoint: iamProxy.endpoint });
const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const kubeProxy = await startSwitchableProxy(Number(new URL(cp.server).port));
t.teardown(() => kubeProxy.close());
const via = kubeConfigVia(cp.kubeConfig, `https://127.0.0.1:${kubeProxy.port}`);

const loaded = loadConfig(
  {},
  {
    ...REQUIRED_ENV,
    OIDC_ISSUER: ISSUER,
    IAM_RATE: '20',
    ANNOTATE_SERVICE_ACCOUNTS: 'pipeline-runner',
  },
);
if (!loaded.ok) throw new Error(loaded.problems.join('; '));
const config = loaded.config;
const role = roleSettings(config, MOTO_ACCOUNT_ID, ISSUER);
const decisions = createDecisionContext(role, policySettings(config));
const api = profiles(cp.kubeConfig);
for (let i = 0; i < 8; i++) {
  const name = `team-fault-${i}`;
  await api.create(
    plainProfile(name, {
      plugins: [
        {
          kind: 'AwsIamForServiceAccount',
          spec: { awsIamRole: decisions.specFor(name).roleArn, annotateOnly: true },
        },
      ],
    }),
  );
}

const metrics = createMetrics({ defaultMetrics: false });
const logger = pino({ level: 'silent' });
const parts = await buildReconciler({ config, role, decisions, kubeConfig: via, metrics, logger });
const controller = new ReconcileController({
  reconciler: parts.reconciler,
  kubeConfig: via,
  profiles: parts.profiles,
  serviceAccounts: parts.serviceAccounts,
  policy: parts.policy,
  intervalMs: 1000,
  passTimeoutMs: PASS_TIMEOUT_MS,
  failedPassRetryMs: 500,
  informerBackoffMs: { min: 200, max: 1000 },
  metrics,
  logger,
});
const stop = new AbortController();
const running = controller.run(stop.signal);
t.teardown(async () => {
  stop.abort();
  kubeProxy.restore();
  iamProxy.forward();
  await running;
});

const successes = async () =>
  (await metrics.reconcile.passes.get()).values.find((v) => v.labels.result === 'success')?.value ??
  0;
const aborted = async () => (await metrics.reconcile.passesAborted.get()).values[0]?.value ?? 0;

async function waitFor(what: string, check: () => Promise<boolean>, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Until a pass is under way: its IAM reads have begun. */
async function midPass() {
  const before = iamProxy.actions().length;
  await waitFor('a pass to start', async () => iamProxy.actions().length > before, 20_000);
}

await waitFor('a first pass', async () => (await successes()) >= 1, 60_000);

t.test('IAM stops answering mid-pass', async (t) => {
  const abortedBefore = await aborted();
  await midPass();
  iamProxy.hang();
  const hungAt = Date.now();
  await waitFor('the pass to be aborted', async () => (await aborted()) > abortedBefore, 30_000);
  t.ok(Date.now() - hungAt <= PASS_TIMEOUT_MS + SLACK_MS, 'aborted within its bound');
  const successBefore = await successes();
  iamProxy.forward();
  await waitFor('a pass to succeed', async () => (await successes()) > successBefore, 30_000);
  t.pass('the next pass succeeds once IAM answers');
});

t.test('the API server stops answering mid-pass', async (t) => {
  const abortedBefore = await aborted();
  await midPass();
  kubeProxy.blackhole();
  const cutAt = Date.now();
  await waitFor('the pass to be aborted', async () => (await aborted()) > abortedBefore, 30_000);
  t.ok(Date.now() - cutAt <= PASS_TIMEOUT_MS + SLACK_MS, 'aborted within its bound');
  const successBefore = await successes();
  kubeProxy.restore();
  await waitFor('a pass to succeed', async () => (await successes()) > successBefore, 60_000);
  t.pass('the next pass succeeds once the API server answers');
});

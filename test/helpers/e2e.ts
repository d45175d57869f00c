// What every end-to-end file starts with: moto, the real control plane with the Profile CRD, and
// the webhook registered with the API server through the chart's own configurations. Each part
// is stopped when the file ends.

import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IAMClient } from '@aws-sdk/client-iam';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  apiErrorMessage,
  profiles,
  registerWebhook,
  waitUntilMutating,
  type RegisterWebhookOptions,
} from '../../tools/dev/cluster.js';
import {
  installProfileCrd,
  startControlPlane,
  type ControlPlane,
} from '../../tools/dev/controlplane.js';
import { iamClientFor, startMoto, type TestMoto } from './moto.js';
import { startTestWebhook, useMoto, type TestWebhook } from './webhook.js';

/**
 * moto behind the IAM recorder; the webhook reaches it through the SDK's environment chain, and
 * `iam` is the test's own client, straight to moto, whose calls are not judged.
 */
export async function startE2eMoto(): Promise<{ moto: TestMoto; iam: IAMClient }> {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  useMoto(moto);
  return { moto, iam: iamClientFor(moto.endpoint) };
}

export interface E2eControlPlane {
  cp: ControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  /** Profiles, as the admin. */
  api: ReturnType<typeof profiles>;
}

/**
 * The control plane with the Profile CRD installed. KUBECONFIG points at it: the webhook and the
 * reconciler find the API server as `serve` does outside a pod. `namespaces` are created first
 * (the release namespace, where a reconciler keeps its Lease).
 */
export async function startE2eControlPlane(
  options: { namespaces?: readonly string[] } = {},
): Promise<E2eControlPlane> {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  await installProfileCrd(cp.kubeConfig);
  process.env.KUBECONFIG = cp.kubeconfigPath;
  const kc = cp.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  for (const name of options.namespaces ?? []) {
    await core.createNamespace({ body: { metadata: { name } } });
  }
  return { cp, kc, core, api: profiles(kc) };
}

/**
 * The webhook (startTestWebhook's settings), registered with the API server and answering its
 * calls; stopped when the file ends.
 */
export async function serveWebhook(
  kc: KubeConfig,
  env?: Parameters<typeof startTestWebhook>[0],
  reuse?: Parameters<typeof startTestWebhook>[1],
  registration?: RegisterWebhookOptions,
): Promise<TestWebhook> {
  const webhook = await startTestWebhook(env, reuse);
  t.teardown(() => webhook.stop());
  await registerWebhook(kc, webhook.url, webhook.certs.caCert, registration);
  await waitUntilMutating(kc);
  return webhook;
}

/** Polls `check` until it returns a value (not undefined or false); a rejection counts as not yet. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(150);
  }
}

/** The API server's message for a request that must be refused; throws if it was accepted. */
export async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return apiErrorMessage(error);
  }
  throw new Error('the request was accepted');
}

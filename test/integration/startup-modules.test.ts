// Start-up loads only what the configuration uses: `serve` as a pure webhook (no reconciler, no
// Kubernetes configuration, account and issuer given) loads neither the Kubernetes client nor
// STS, which together weigh tens of megabytes of a replica's memory. A module hook in the served
// process records every package it resolves and writes the list when the process exits.

import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startMoto } from '../helpers/moto.js';
import { startServedWebhook } from '../helpers/served-webhook.js';
import { ACCOUNT_ID } from '../helpers/settings.js';

const HOOK = `
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const packages = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const resolved = next(specifier, context);
    const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(resolved.url);
    if (match) packages.add(match[1]);
    return resolved;
  },
});
process.on('exit', () => writeFileSync(process.env.LOADED_PACKAGES_FILE, [...packages].join('\\n')));
`;

const moto = await startMoto();
t.teardown(() => moto.stop());

t.test('a pure webhook loads neither the Kubernetes client nor STS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'startup-modules-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const hook = join(dir, 'hook.mjs');
  const listFile = join(dir, 'packages.txt');
  await writeFile(hook, HOOK);
  const served = await startServedWebhook(t, moto, {
    NODE_OPTIONS: `--import ${pathToFileURL(hook).href}`,
    LOADED_PACKAGES_FILE: listFile,
    AWS_ACCOUNT_ID: ACCOUNT_ID,
    // No Kubernetes configuration anywhere: no KUBECONFIG, no ~/.kube/config.
    HOME: dir,
  });
  const ready = await fetch(`${served.opsUrl}/readyz`);
  t.equal(ready.status, 200, 'serving');
  await served.stop();
  const packages = (await readFile(listFile, 'utf8')).split('\n');
  t.ok(packages.includes('@aws-sdk/client-iam'), 'the hook saw the IAM client load');
  t.notOk(packages.includes('@kubernetes/client-node'), 'no Kubernetes client');
  t.notOk(packages.includes('@aws-sdk/client-sts'), 'no STS client');
});

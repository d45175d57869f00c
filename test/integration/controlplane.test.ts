// The test control plane itself: a real kube-apiserver + etcd that reports the pinned release,
// serves the real Profile CRD to both @kubernetes/client-node and kubectl, and leaves nothing
// behind when stopped.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ApiException, CustomObjectsApi, VersionApi } from '@kubernetes/client-node';
import { plainProfile } from '../../tools/dev/sample.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
import { isAlive } from '../helpers/processes.js';

const execFileP = promisify(execFile);

/** The k8s.io/kubernetes release test/controlplane/go.mod pins. */
function pinnedKubernetesVersion(): string {
  const goMod = readFileSync(
    fileURLToPath(new URL('../controlplane/go.mod', import.meta.url)),
    'utf8',
  );
  const match = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+\S*)/m.exec(goMod);
  if (!match?.[1]) throw new Error('k8s.io/kubernetes not found in test/controlplane/go.mod');
  return match[1];
}

const profiles = { group: 'kubeflow.org', version: 'v1', plural: 'profiles' } as const;

t.test('control plane: real apiserver, Profile CRD, clean stop', async (t) => {
  const cp = await startControlPlane();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await cp.stop();
  });

  t.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.ok(existsSync(cp.kubeconfigPath), 'kubeconfig written');
  t.ok(existsSync(cp.dataDir), 'data dir exists while running');

  const expected = pinnedKubernetesVersion();
  const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
  t.equal(version.gitVersion, expected, '/version reports the pinned release');
  t.equal(cp.version, expected, 'the ready line reports it too');
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(expected) ?? [];
  t.equal(version.major, major);
  t.equal(version.minor, minor);

  await installProfileCrd(cp.kubeConfig);

  const api = cp.kubeConfig.makeApiClient(CustomObjectsApi);
  const name = 'controlplane-test';
  await api.createClusterCustomObject({ ...profiles, body: plainProfile(name) });

  const got = (await api.getClusterCustomObject({ ...profiles, name })) as ReturnType<
    typeof plainProfile
  > & { metadata: { uid?: string } };
  t.equal(got.metadata.name, name);
  t.ok(got.metadata.uid, 'stored by the apiserver');
  t.same(got.spec.owner, { kind: 'User', name: `${name}@example.com` });

  const { stdout } = await execFileP('kubectl', [
    '--kubeconfig',
    cp.kubeconfigPath,
    'get',
    'profiles',
    '-o',
    'json',
  ]);
  const listed = JSON.parse(stdout) as { items: { metadata: { name: string } }[] };
  t.same(
    listed.items.map((p) => p.metadata.name),
    [name],
    'kubectl sees the Profile',
  );

  await api.deleteClusterCustomObject({ ...profiles, name });
  // Profiles have no finalizers of their own and nothing else here adds one: gone at once.
  const gone = await api.getClusterCustomObject({ ...profiles, name }).then(
    () => 'still there',
    (err: unknown) => (err instanceof ApiException ? err.code : err),
  );
  t.equal(gone, 404, 'the Profile is gone');
  const afterDelete = await execFileP('kubectl', [
    '--kubeconfig',
    cp.kubeconfigPath,
    'get',
    'profiles',
    '-o',
    'name',
  ]);
  t.equal(afterDelete.stdout.trim(), '', 'kubectl sees no Profiles after delete');

  await cp.stop();
  stopped = true;
  t.notOk(isAlive(cp.pid), 'process is gone');
  t.notOk(existsSync(cp.dataDir), 'data dir removed');
  t.notOk(existsSync(cp.kubeconfigPath), 'kubeconfig removed');
  await cp.stop(); // idempotent
});

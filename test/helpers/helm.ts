// The real `helm` binary for chart tests: tools/dev/helm.ts (shared with `npm run dev` and the
// benchmark), plus what only tests need.

import type { K8sObject } from '../../tools/dev/helm.js';

export {
  chartDir,
  helm,
  HelmError,
  helmTemplate,
  renderWebhookConfigurations,
  repoRoot,
  REQUIRED_VALUES,
  type K8sObject,
} from '../../tools/dev/helm.js';

/** Finds exactly one rendered object by kind (and name, when given); throws otherwise. */
export function findObject(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const hits = objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  if (hits.length !== 1) {
    throw new Error(
      `expected one ${kind}${name ? ` named ${name}` : ''}, found ${hits.length} among: ` +
        objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', '),
    );
  }
  return hits[0]!;
}

/** The release-namespace Role's rules, for a release named `fullname`. */
export function expectedRoleRules(fullname: string, options: { reconcile: boolean }) {
  return [
    { apiGroups: [''], resources: ['services'], resourceNames: [fullname], verbs: ['get'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
    ...(options.reconcile
      ? [
          { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
          {
            apiGroups: ['coordination.k8s.io'],
            resources: ['leases'],
            resourceNames: [fullname],
            verbs: ['get', 'update'],
          },
        ]
      : []),
  ];
}

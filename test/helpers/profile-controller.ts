// A stand-in for Kubeflow's profile controller (kubeflow/dashboard, components/profile-controller):
// the requests it sends for one Profile, in its order, through client-node like any client of the
// API server. Only what touches the API server is reproduced; the Istio AuthorizationPolicy
// is left out (the local control plane has no Istio CRDs), and so are AWS calls, which the
// controller does not make with `annotateOnly: true`.

import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { PROFILES, type Profile } from '../../tools/dev/cluster.js';

export const FINALIZER = 'profile-finalizer';
const ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';
const PLUGIN = 'AwsIamForServiceAccount';

/** One Profile write the controller made: what was stored before and what it sent. */
export interface ProfileWrite {
  step: string;
  oldObject: Profile;
  object: Profile;
  /** Round trip through the API server (and any webhook it called). */
  ms: number;
}

export class ProfileControllerStandIn {
  readonly writes: ProfileWrite[] = [];
  private readonly core: CoreV1Api;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly custom: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** One reconcile: steps 1-6 on a live Profile, steps 1-4 then the revoke on a deleted one. */
  async reconcile(name: string): Promise<void> {
    let profile = await this.get(name);
    await this.ensureNamespace(profile);
    await this.ensureNamespaceObjects(profile);
    // 3. "PatchDefaultPluginSpec": always, even when nothing changed and while deleting. The Go
    // types encode the struct-valued resourceQuotaSpec as {} when nobody set it.
    profile = await this.update('routine update', profile, (p) => {
      p.spec = { ...p.spec, resourceQuotaSpec: (p.spec as Spec)?.resourceQuotaSpec ?? {} } as Spec;
    });
    // 4. The plugin annotates default-editor (annotateOnly: no AWS call).
    await this.annotateEditor(profile, roleOf(profile));
    if (profile.metadata?.deletionTimestamp) {
      // The plugin's revoke takes the annotation off again; then the finalizer goes, and with it
      // the Profile.
      await this.annotateEditor(profile, undefined);
      await this.update('finalizer removal', profile, (p) => {
        p.metadata!.finalizers = (p.metadata!.finalizers ?? []).filter((f) => f !== FINALIZER);
      });
      return;
    }
    // 5. The finalizer, once.
    if (!(profile.metadata?.finalizers ?? []).includes(FINALIZER)) {
      profile = await this.update('finalizer add', profile, (p) => {
        p.metadata!.finalizers = [...(p.metadata!.finalizers ?? []), FINALIZER];
      });
    }
    // 6. Status through the status subresource.
    await this.custom.replaceClusterCustomObjectStatus({
      ...PROFILES,
      name,
      body: { ...profile, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    });
  }

  /** A write someone else makes (a user's kubectl edit): only what `change` changes. */
  async edit(name: string, step: string, change: (profile: Profile) => void): Promise<Profile> {
    return this.update(step, await this.get(name), change);
  }

  async get(name: string): Promise<Profile> {
    return (await this.custom.getClusterCustomObject({ ...PROFILES, name })) as Profile;
  }

  private async update(
    step: string,
    stored: Profile,
    change: (profile: Profile) => void,
  ): Promise<Profile> {
    const object = structuredClone(stored);
    change(object);
    const started = performance.now();
    const result = (await this.custom.replaceClusterCustomObject({
      ...PROFILES,
      name: stored.metadata!.name!,
      body: object,
    })) as Profile;
    this.writes.push({ step, oldObject: stored, object, ms: performance.now() - started });
    return result;
  }

  // 1. The namespace, with the owner annotation; someone else's is never taken over.
  private async ensureNamespace(profile: Profile): Promise<void> {
    const name = profile.metadata!.name!;
    const owner = profile.spec?.owner?.name ?? '';
    const labels = {
      'istio-injection': 'enabled',
      'app.kubernetes.io/part-of': 'kubeflow-profile',
    };
    const existing = await orUndefined(this.core.readNamespace({ name }));
    if (!existing) {
      await this.core.createNamespace({
        body: { metadata: { name, annotations: { owner }, labels } },
      });
      return;
    }
    const current = existing.metadata?.annotations?.owner;
    if (current !== undefined && current !== owner) {
      throw new Error(`namespace ${name} is owned by ${current}, not ${owner}`);
    }
    existing.metadata = {
      ...existing.metadata,
      annotations: { ...existing.metadata?.annotations, owner },
      labels: { ...existing.metadata?.labels, ...labels },
    };
    await this.core.replaceNamespace({ name, body: existing });
  }

  // 2. Service accounts and role bindings (and a ResourceQuota only when one is set).
  private async ensureNamespaceObjects(profile: Profile): Promise<void> {
    const namespace = profile.metadata!.name!;
    for (const sa of ['default-editor', 'default-viewer']) {
      await ignoreConflict(
        this.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } }),
      );
    }
    const owner = profile.spec?.owner;
    const bindings: [string, string, { kind: string; name: string; namespace?: string }][] = [
      [
        'namespaceAdmin',
        'kubeflow-admin',
        { kind: owner?.kind ?? 'User', name: owner?.name ?? '' },
      ],
      [
        'default-editor',
        'kubeflow-edit',
        { kind: 'ServiceAccount', name: 'default-editor', namespace },
      ],
      [
        'default-viewer',
        'kubeflow-view',
        { kind: 'ServiceAccount', name: 'default-viewer', namespace },
      ],
    ];
    for (const [name, role, subject] of bindings) {
      await ignoreConflict(
        this.rbac.createNamespacedRoleBinding({
          namespace,
          body: {
            metadata: { name },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
            subjects: [
              subject.kind === 'ServiceAccount'
                ? subject
                : { ...subject, apiGroup: 'rbac.authorization.k8s.io' },
            ],
          },
        }),
      );
    }
    const spec: Spec | undefined = profile.spec;
    const hard = spec?.resourceQuotaSpec?.hard;
    if (hard && Object.keys(hard).length > 0) {
      await ignoreConflict(
        this.core.createNamespacedResourceQuota({
          namespace,
          body: { metadata: { name: 'kf-resource-quota' }, spec: { hard } },
        }),
      );
    }
  }

  private async annotateEditor(profile: Profile, roleArn: string | undefined): Promise<void> {
    const namespace = profile.metadata!.name!;
    const sa: V1ServiceAccount = await this.core.readNamespacedServiceAccount({
      name: 'default-editor',
      namespace,
    });
    const annotations = { ...sa.metadata?.annotations };
    if (roleArn === undefined) delete annotations[ROLE_ARN_ANNOTATION];
    else annotations[ROLE_ARN_ANNOTATION] = roleArn;
    sa.metadata = { ...sa.metadata, annotations };
    await this.core.replaceNamespacedServiceAccount({
      name: 'default-editor',
      namespace,
      body: sa,
    });
  }
}

interface Spec {
  owner?: { kind: string; name: string };
  plugins?: { kind: string; spec?: Record<string, unknown> }[];
  resourceQuotaSpec?: { hard?: Record<string, string> };
}

function roleOf(profile: Profile): string | undefined {
  const plugin = profile.spec?.plugins?.find((p) => p.kind === PLUGIN);
  const role = plugin?.spec?.awsIamRole;
  return typeof role === 'string' ? role : undefined;
}

async function orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

async function ignoreConflict(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
}

import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import type { ObservedProfile } from '../core/reconcile-observed.js';
import { ConflictError, isNotFound, statusOf } from './errors.js';

export const PROFILES = { group: 'kubeflow.org', version: 'v1', plural: 'profiles' } as const;
/** The watch path of the cluster-scoped Profiles. */
export const PROFILES_PATH = `/apis/${PROFILES.group}/${PROFILES.version}/${PROFILES.plural}`;
export const FIELD_MANAGER = 'profile-irsa-webhook';
const PAGE = 500;

export type Profile = KubernetesObject & { spec?: unknown };

/** Profiles read from and written to the API server itself (never from a cache). */
export class ProfileClient {
  private readonly api: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** A fresh GET: undefined when the Profile does not exist. */
  async get(name: string): Promise<ObservedProfile | undefined> {
    try {
      return observedProfile(
        (await this.api.getClusterCustomObject({ ...PROFILES, name })) as Profile,
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(): Promise<ObservedProfile[]> {
    const profiles: ObservedProfile[] = [];
    let next: string | undefined;
    do {
      const page = await this.listPage(next);
      profiles.push(...page.items.map(observedProfile));
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    return profiles;
  }

  /** One list call, as the informer's ListWatch wants it. */
  listForWatch = (): Promise<KubernetesListObject<Profile>> => this.listPage(undefined, 0);

  /**
   * A JSON patch through the API server, so the webhooks see the change like any other. It
   * starts with a `test` of the resourceVersion it was planned from: a Profile that changed in
   * between is not patched (ConflictError) and is planned again.
   */
  async patch(name: string, resourceVersion: string | undefined, ops: Operation[]): Promise<void> {
    const guarded: Operation[] =
      resourceVersion === undefined
        ? ops
        : [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...ops];
    try {
      await this.api.patchClusterCustomObject(
        { ...PROFILES, name, body: guarded, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 || status === 422) {
        throw new ConflictError(`Profile ${name} changed since it was read`, { cause: err });
      }
      throw err;
    }
  }

  private async listPage(
    next: string | undefined,
    limit = PAGE,
  ): Promise<KubernetesListObject<Profile>> {
    return (await this.api.listClusterCustomObject({
      ...PROFILES,
      ...(limit > 0 ? { limit } : {}),
      ...(next !== undefined ? { _continue: next } : {}),
    })) as KubernetesListObject<Profile>;
  }
}

export function observedProfile(profile: Profile): ObservedProfile {
  return {
    name: profile.metadata?.name ?? '',
    object: profile,
    resourceVersion: profile.metadata?.resourceVersion,
    terminating:
      profile.metadata?.deletionTimestamp !== undefined &&
      profile.metadata.deletionTimestamp !== null,
  };
}

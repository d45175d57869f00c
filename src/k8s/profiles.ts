import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import { profileView } from '../core/profile-view.js';
import type { ObservedProfile } from '../core/reconcile-observed.js';
import {
  DEFAULT_PAGE_SIZE,
  makeApiClient,
  withSignal,
  type ApiClientOptions,
} from './api-client.js';
import { ConflictError, isNotFound, statusOf } from './errors.js';

export const PROFILES = { group: 'kubeflow.org', version: 'v1', plural: 'profiles' } as const;
/** The watch path of the cluster-scoped Profiles. */
export const PROFILES_PATH = `/apis/${PROFILES.group}/${PROFILES.version}/${PROFILES.plural}`;
export const FIELD_MANAGER = 'profile-irsa-webhook';

export type Profile = KubernetesObject & { spec?: unknown };

/**
 * A custom-object list as the API server sends it. client-node returns it as plain JSON, so its
 * page token is `metadata.continue` (the typed lists' `_continue` is client-node's renaming).
 */
interface ProfileList {
  items: Profile[];
  metadata?: { continue?: string; resourceVersion?: string };
}

/** Profiles read from and written to the API server itself (never from a cache). */
export class ProfileClient {
  private readonly api: CustomObjectsApi;
  private readonly pageSize: number;

  constructor(kubeConfig: KubeConfig, options: ApiClientOptions = {}) {
    this.api = makeApiClient(kubeConfig, CustomObjectsApi, options);
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  }

  /** A fresh GET: undefined when the Profile does not exist. */
  async get(name: string, signal?: AbortSignal): Promise<ObservedProfile | undefined> {
    try {
      return observedProfile(
        (await this.api.getClusterCustomObject(
          { ...PROFILES, name },
          withSignal(signal),
        )) as Profile,
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Every Profile, page by page to the last one. */
  async list(signal?: AbortSignal): Promise<ObservedProfile[]> {
    const profiles: ObservedProfile[] = [];
    let next: string | undefined;
    do {
      const page = await this.listPage(next, this.pageSize, signal);
      profiles.push(...page.items.map(observedProfile));
      next = page.metadata?.continue || undefined;
    } while (next !== undefined);
    return profiles;
  }

  /**
   * Every Profile in one list, as the informer's ListWatch wants it, read page by page: a
   * continued list is one snapshot, so every page carries the resourceVersion the watch starts
   * from. A snapshot that expires before the last page (410) fails the list, and the informer
   * lists again from the start.
   */
  listForWatch = async (): Promise<KubernetesListObject<Profile>> => {
    const items: Profile[] = [];
    let next: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.listPage(next, this.pageSize);
      items.push(...page.items);
      resourceVersion ??= page.metadata?.resourceVersion;
      next = page.metadata?.continue || undefined;
    } while (next !== undefined);
    return { items, metadata: resourceVersion === undefined ? {} : { resourceVersion } };
  };

  /**
   * A JSON patch through the API server, so the webhooks see the change like any other. It
   * starts with a `test` of the resourceVersion it was planned from: a Profile that changed in
   * between is not patched (ConflictError) and is planned again.
   */
  async patch(
    name: string,
    resourceVersion: string | undefined,
    ops: Operation[],
    signal?: AbortSignal,
  ): Promise<void> {
    const guarded: Operation[] =
      resourceVersion === undefined
        ? ops
        : [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...ops];
    try {
      await this.api.patchClusterCustomObject(
        { ...PROFILES, name, body: guarded, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch, withSignal(signal)),
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
    limit: number,
    signal?: AbortSignal,
  ): Promise<ProfileList> {
    return (await this.api.listClusterCustomObject(
      {
        ...PROFILES,
        limit,
        ...(next !== undefined ? { _continue: next } : {}),
      },
      withSignal(signal),
    )) as ProfileList;
  }
}

/** Only what the reconciler reads of a Profile is kept (profileView). */
export function viewOf(profile: Profile): Profile {
  return profileView(profile) as Profile;
}

function observedProfile(profile: Profile): ObservedProfile {
  return {
    name: profile.metadata?.name ?? '',
    object: profileView(profile),
    resourceVersion: profile.metadata?.resourceVersion,
    terminating:
      profile.metadata?.deletionTimestamp !== undefined &&
      profile.metadata.deletionTimestamp !== null,
  };
}

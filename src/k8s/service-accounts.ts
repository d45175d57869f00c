import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ServiceAccount,
  type V1ServiceAccountList,
} from '@kubernetes/client-node';
import { ROLE_ARN_ANNOTATION, type ObservedServiceAccount } from '../core/reconcile-observed.js';
import { ConflictError, isNotFound, statusOf } from './errors.js';
import {
  DEFAULT_PAGE_SIZE,
  makeApiClient,
  withSignal,
  type ApiClientOptions,
} from './api-client.js';
import { FIELD_MANAGER } from './profiles.js';

export const SERVICE_ACCOUNTS_PATH = '/api/v1/serviceaccounts';
/** JSON pointer to the annotation (`/` escaped as `~1`). */
const ANNOTATION_POINTER = `/metadata/annotations/${ROLE_ARN_ANNOTATION.replaceAll('~', '~0').replaceAll('/', '~1')}`;

/** The extra service accounts' IRSA annotation, read and written through the API server. */
export class ServiceAccountClient {
  private readonly api: CoreV1Api;
  private readonly pageSize: number;

  constructor(kubeConfig: KubeConfig, options: ApiClientOptions = {}) {
    this.api = makeApiClient(kubeConfig, CoreV1Api, options);
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  }

  async get(
    namespace: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<ObservedServiceAccount | undefined> {
    try {
      return observedServiceAccount(
        await this.api.readNamespacedServiceAccount({ namespace, name }, withSignal(signal)),
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Every service account of that name, in every namespace. */
  async listNamed(name: string, signal?: AbortSignal): Promise<ObservedServiceAccount[]> {
    const accounts: ObservedServiceAccount[] = [];
    let next: string | undefined;
    do {
      const page: V1ServiceAccountList = await this.api.listServiceAccountForAllNamespaces(
        {
          fieldSelector: nameSelector(name),
          limit: this.pageSize,
          ...(next !== undefined ? { _continue: next } : {}),
        },
        withSignal(signal),
      );
      accounts.push(...page.items.map(observedServiceAccount));
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    return accounts;
  }

  /** One list call of that name, as the informer's ListWatch wants it. */
  listForWatch(name: string): () => Promise<V1ServiceAccountList> {
    return () => this.api.listServiceAccountForAllNamespaces({ fieldSelector: nameSelector(name) });
  }

  async annotate(
    namespace: string,
    name: string,
    roleArn: string,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.api.patchNamespacedServiceAccount(
      {
        namespace,
        name,
        body: { metadata: { annotations: { [ROLE_ARN_ANNOTATION]: roleArn } } },
        fieldManager: FIELD_MANAGER,
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch, withSignal(signal)),
    );
  }

  /**
   * Removes the annotation only while it still names `roleArn` (a JSON patch `test`): one that
   * someone has since pointed elsewhere is not ours to remove (ConflictError).
   */
  async unannotate(
    namespace: string,
    name: string,
    roleArn: string,
    signal?: AbortSignal,
  ): Promise<void> {
    try {
      await this.api.patchNamespacedServiceAccount(
        {
          namespace,
          name,
          body: [
            { op: 'test', path: ANNOTATION_POINTER, value: roleArn },
            { op: 'remove', path: ANNOTATION_POINTER },
          ],
          fieldManager: FIELD_MANAGER,
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch, withSignal(signal)),
      );
    } catch (err) {
      const status = statusOf(err);
      if (status === 409 || status === 422) {
        throw new ConflictError(`service account ${namespace}/${name} no longer names ${roleArn}`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

export function nameSelector(name: string): string {
  return `metadata.name=${name}`;
}

function observedServiceAccount(account: V1ServiceAccount): ObservedServiceAccount {
  return {
    namespace: account.metadata?.namespace ?? '',
    name: account.metadata?.name ?? '',
    roleArn: account.metadata?.annotations?.[ROLE_ARN_ANNOTATION],
  };
}

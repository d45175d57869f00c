import type { Logger } from 'pino';
import type {
  InventoryRole,
  Observation,
  ObservedServiceAccount,
} from '../core/reconcile-observed.js';
import { ownerNamespace, roleReadNeeds, type ReconcilePolicy } from '../core/reconcile-plan.js';
import type { RoleInventory } from '../iam/role-inventory.js';
import type { ProfileClient } from '../k8s/profiles.js';
import type { ServiceAccountClient } from '../k8s/service-accounts.js';
import { retryTransient, type RetryBudget } from './retry.js';

export interface ObserverOptions {
  inventory: RoleInventory;
  profiles: ProfileClient;
  serviceAccounts: ServiceAccountClient;
  policy: ReconcilePolicy;
  /** A boundary is configured, so each managed role's boundary must be read (GetRole). */
  readBoundary: boolean;
  logger: Logger;
  retryBudget?: RetryBudget | undefined;
  /** Called after every call that succeeded: the pass is making progress. */
  onProgress?: (() => void) | undefined;
  now?: () => number;
}

/**
 * Reads what the plan needs, straight from the API server and IAM (never from an informer's
 * cache), and no more: tags for every role under the path, the inline policy only for roles of
 * existing Profiles, attachments only for roles whose Profile is gone.
 */
export class Observer {
  private readonly o: ObserverOptions;
  private readonly now: () => number;

  constructor(options: ObserverOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  async observeAll(signal: AbortSignal, goneAt: ReadonlyMap<string, number>): Promise<Observation> {
    const profiles = await this.retrying('list Profiles', signal, () =>
      this.o.profiles.list(signal),
    );
    const names = new Set(profiles.map((profile) => profile.name));
    const roles: InventoryRole[] = [];
    let marker: string | undefined;
    do {
      const page = await this.retrying('ListRoles', signal, () =>
        this.o.inventory.listRoles(marker, signal),
      );
      for (const role of page.roles) {
        role.tags = await this.retrying(`ListRoleTags ${role.roleName}`, signal, () =>
          this.o.inventory.tags(role.roleName, signal),
        );
        await this.complete(role, (namespace) => names.has(namespace), signal);
        roles.push(role);
      }
      marker = page.marker;
    } while (marker !== undefined);
    const serviceAccounts: ObservedServiceAccount[] = [];
    for (const name of this.o.policy.annotateServiceAccounts) {
      serviceAccounts.push(
        ...(await this.retrying(`list service accounts ${name}`, signal, () =>
          this.o.serviceAccounts.listNamed(name, signal),
        )),
      );
    }
    return { scope: { all: true }, profiles, roles, serviceAccounts, goneAt, now: this.now() };
  }

  /** One namespace, afresh: its Profile by GET, its derived role, its extra service accounts. */
  async observeNamespace(
    namespace: string,
    signal: AbortSignal,
    goneAt: ReadonlyMap<string, number>,
  ): Promise<Observation> {
    const profile = await this.retrying(`get Profile ${namespace}`, signal, () =>
      this.o.profiles.get(namespace, signal),
    );
    const { roleName } = this.o.policy.specFor(namespace);
    const role = await this.retrying(`GetRole ${roleName}`, signal, () =>
      this.o.inventory.getRole(roleName, signal),
    );
    if (role !== undefined) {
      // Only this namespace's Profile was read; a role tagged for another is never ours to judge.
      await this.complete(
        role,
        (other) => other !== namespace || profile !== undefined,
        signal,
        false,
      );
    }
    const serviceAccounts: ObservedServiceAccount[] = [];
    for (const name of this.o.policy.annotateServiceAccounts) {
      const account = await this.retrying(`get service account ${namespace}/${name}`, signal, () =>
        this.o.serviceAccounts.get(namespace, name, signal),
      );
      if (account !== undefined) serviceAccounts.push(account);
    }
    return {
      scope: { all: false, namespace },
      profiles: profile === undefined ? [] : [profile],
      roles: role === undefined ? [] : [role],
      serviceAccounts,
      goneAt,
      now: this.now(),
    };
  }

  private async complete(
    role: InventoryRole,
    profileExists: (namespace: string) => boolean,
    signal: AbortSignal,
    readBoundary = this.o.readBoundary,
  ): Promise<void> {
    const needs = roleReadNeeds(role, this.o.policy, profileExists);
    const { inventory } = this.o;
    if (needs === 'inline-policy') {
      const namespace = ownerNamespace(role, this.o.policy.owner)!;
      const policyName = this.o.policy.specFor(namespace).s3Policy.name;
      role.inlinePolicy = await this.retrying(`GetRolePolicy ${role.roleName}`, signal, () =>
        inventory.inlinePolicy(role.roleName, policyName, signal),
      );
      if (readBoundary) {
        role.permissionsBoundaryArn = await this.retrying(`GetRole ${role.roleName}`, signal, () =>
          inventory.permissionsBoundary(role.roleName, signal),
        );
      }
    } else if (needs === 'attachments') {
      role.attachments = await this.retrying(`attachments of ${role.roleName}`, signal, () =>
        inventory.attachments(role.roleName, signal),
      );
    }
  }

  private async retrying<T>(what: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
    const result = await retryTransient(what, call, {
      signal,
      logger: this.o.logger,
      budget: this.o.retryBudget,
    });
    this.o.onProgress?.();
    return result;
  }
}

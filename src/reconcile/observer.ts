import type { Logger } from 'pino';
import type { ObservedNamespace } from '../core/namespace.js';
import type {
  InventoryRole,
  Observation,
  ObservedProfile,
  ObservedServiceAccount,
} from '../core/reconcile-observed.js';
import { ownerNamespace, roleReadNeeds, type ReconcilePolicy } from '../core/reconcile-plan.js';
import { PROFILE_UID_TAG } from '../core/role-binding.js';
import type { RoleInventory } from '../iam/role-inventory.js';
import type { NamespaceLister, NamespaceReader } from '../k8s/namespaces.js';
import type { ProfileClient } from '../k8s/profiles.js';
import type { ServiceAccountClient } from '../k8s/service-accounts.js';
import { retryTransient, type RetryBudget } from './retry.js';

/** IAM requests made so far by one full pass. */
interface IamTally {
  calls: number;
}

export interface ObserverOptions {
  inventory: RoleInventory;
  profiles: ProfileClient;
  serviceAccounts: ServiceAccountClient;
  policy: ReconcilePolicy;
  /** A boundary is configured, so each managed role's boundary must be read (GetRole). */
  readBoundary: boolean;
  /**
   * The Namespaces of Profiles, for the namespace-owner rule (admission's): one GET for a
   * namespace's look, one paged LIST for a full pass.
   */
  namespaces?: (NamespaceReader & NamespaceLister) | undefined;
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
  private readonly deps: ObserverOptions;
  private readonly now: () => number;
  /**
   * Roles of ours under a name the template no longer derives for their namespace, by
   * namespace, as the last listing of the role path found them: a one-namespace look reads only
   * the derived name otherwise, and would never see them.
   */
  private strays = new Map<string, Set<string>>();
  /**
   * What the sweep learnt of each role (by RoleId), so it reads each role's tags once: a role
   * handed out stays handed out until its namespace's look has read it (see observeNamespace).
   */
  private readonly swept = new Map<string, 'bound' | 'not-ours' | 'scheduled'>();

  constructor(options: ObserverOptions) {
    this.deps = options;
    this.now = options.now ?? Date.now;
  }

  async observeAll(signal: AbortSignal, goneAt: ReadonlyMap<string, number>): Promise<Observation> {
    const profiles = await this.retrying('list Profiles', signal, () =>
      this.deps.profiles.list(signal),
    );
    const names = new Set(profiles.map((profile) => profile.name));
    const namespaces = await this.listNamespaces(profiles, signal);
    const strays = new Map<string, Set<string>>();
    const roles: InventoryRole[] = [];
    const tally: IamTally = { calls: 0 };
    let marker: string | undefined;
    do {
      const page = await this.retrying(
        'ListRoles',
        signal,
        () => this.deps.inventory.listRoles(marker, signal),
        tally,
      );
      for (const role of page.roles) {
        if (!(await this.readTags(role, signal, tally))) continue;
        await this.complete(role, (namespace) => names.has(namespace), signal, false, tally);
        this.noteStray(strays, role);
        roles.push(role);
      }
      marker = page.marker;
    } while (marker !== undefined);
    this.strays = strays;
    const serviceAccounts: ObservedServiceAccount[] = [];
    for (const name of this.deps.policy.annotateServiceAccounts) {
      serviceAccounts.push(
        ...(await this.retrying(`list service accounts ${name}`, signal, () =>
          this.deps.serviceAccounts.listNamed(name, signal),
        )),
      );
    }
    return {
      scope: { all: true },
      profiles,
      roles,
      serviceAccounts,
      namespaces,
      goneAt,
      now: this.now(),
      iamCalls: tally.calls,
    };
  }

  /** One namespace, afresh: its Profile by GET, its derived role, its extra service accounts. */
  async observeNamespace(
    namespace: string,
    signal: AbortSignal,
    goneAt: ReadonlyMap<string, number>,
  ): Promise<Observation> {
    const profile = await this.retrying(`get Profile ${namespace}`, signal, () =>
      this.deps.profiles.get(namespace, signal),
    );
    const { roleName } = this.deps.policy.specFor(namespace);
    const roles: InventoryRole[] = [];
    for (const name of [roleName, ...(this.strays.get(namespace) ?? [])]) {
      const role = await this.retrying(`GetRole ${name}`, signal, () =>
        this.deps.inventory.getRole(name, signal),
      );
      if (role === undefined) continue;
      this.noteLooked(role);
      // A stray must still be tagged for this namespace and lie under the role path.
      if (name !== roleName && !this.isStrayOf(role, namespace)) continue;
      // Only this namespace's Profile was read; a role tagged for another is never ours to judge.
      await this.complete(
        role,
        (other) => other !== namespace || profile !== undefined,
        signal,
        false,
      );
      roles.push(role);
    }
    const namespaces = new Map<string, ObservedNamespace>();
    if (profile !== undefined && !profile.terminating) {
      const observed = await this.readNamespace(namespace, signal);
      if (observed !== undefined) namespaces.set(namespace, observed);
    }
    const serviceAccounts: ObservedServiceAccount[] = [];
    for (const name of this.deps.policy.annotateServiceAccounts) {
      const account = await this.retrying(`get service account ${namespace}/${name}`, signal, () =>
        this.deps.serviceAccounts.get(namespace, name, signal),
      );
      if (account !== undefined) serviceAccounts.push(account);
    }
    return {
      scope: { all: false, namespace },
      profiles: profile === undefined ? [] : [profile],
      roles,
      serviceAccounts,
      namespaces,
      goneAt,
      now: this.now(),
    };
  }

  /**
   * The periodic sweep of the role path: the roles of this cluster that serve no stored Profile
   * yet (no Profile UID tag), with when each is due to be judged (the end of its orphan grace,
   * counted from its creation). It finds the roles of a replica that died right after making
   * them, whose Profile was never stored, without waiting for the next full pass. Each role's
   * tags are read once; a role handed out is handed out again only after a fresh look.
   */
  async sweep(signal: AbortSignal): Promise<{ namespace: string; dueAt: number }[]> {
    const { inventory, policy } = this.deps;
    const due: { namespace: string; dueAt: number }[] = [];
    const listed = new Set<string>();
    let marker: string | undefined;
    do {
      const page = await this.retrying('ListRoles', signal, () =>
        inventory.listRoles(marker, signal),
      );
      for (const role of page.roles) {
        const id = role.roleId ?? role.roleName;
        listed.add(id);
        // Read again only once the namespace's look has read it: re-reading every role still
        // waiting would spend the IAM rate the deletions need.
        if (this.swept.has(id)) continue;
        role.tags = await this.retrying(`ListRoleTags ${role.roleName}`, signal, () =>
          inventory.tags(role.roleName, signal),
        );
        const namespace = ownerNamespace(role, policy.owner);
        if (namespace === undefined) {
          this.swept.set(id, 'not-ours');
          continue;
        }
        this.noteStray(this.strays, role);
        if (role.tags[PROFILE_UID_TAG] !== undefined) {
          this.swept.set(id, 'bound');
          continue;
        }
        this.swept.set(id, 'scheduled');
        due.push({ namespace, dueAt: (role.createdAt ?? this.now()) + policy.orphanGraceMs });
      }
      marker = page.marker;
    } while (marker !== undefined);
    for (const id of this.swept.keys()) if (!listed.has(id)) this.swept.delete(id);
    return due;
  }

  /** What a look read of a role (GetRole carries its tags) is what the sweep would learn. */
  private noteLooked(role: InventoryRole): void {
    const id = role.roleId ?? role.roleName;
    if (ownerNamespace(role, this.deps.policy.owner) === undefined) this.swept.set(id, 'not-ours');
    else if (role.tags[PROFILE_UID_TAG] !== undefined) this.swept.set(id, 'bound');
    // Still unbound: the next sweep reads it again and hands it out again if it is still there.
    else this.swept.delete(id);
  }

  /**
   * A listed role's tags, and its boundary when one is configured: GetRole returns both, one
   * call where ListRoleTags and then GetRole would be two (ListRoles returns neither). False
   * when the role was deleted since it was listed.
   */
  private async readTags(
    role: InventoryRole,
    signal: AbortSignal,
    tally: IamTally,
  ): Promise<boolean> {
    const { inventory } = this.deps;
    if (!this.deps.readBoundary) {
      role.tags = await this.retrying(
        `ListRoleTags ${role.roleName}`,
        signal,
        () => inventory.tags(role.roleName, signal),
        tally,
      );
      return true;
    }
    const read = await this.retrying(
      `GetRole ${role.roleName}`,
      signal,
      () => inventory.getRole(role.roleName, signal),
      tally,
    );
    if (read === undefined) return false;
    role.tags = read.tags;
    role.permissionsBoundaryArn = read.permissionsBoundaryArn;
    return true;
  }

  private noteStray(strays: Map<string, Set<string>>, role: InventoryRole): void {
    const namespace = ownerNamespace(role, this.deps.policy.owner);
    if (namespace === undefined || !this.isStrayOf(role, namespace)) return;
    const names = strays.get(namespace) ?? new Set<string>();
    names.add(role.roleName);
    strays.set(namespace, names);
  }

  private isStrayOf(role: InventoryRole, namespace: string): boolean {
    const spec = this.deps.policy.specFor(namespace);
    return (
      ownerNamespace(role, this.deps.policy.owner) === namespace &&
      role.roleName !== spec.roleName &&
      role.arn === `${spec.roleArn.slice(0, -spec.roleName.length)}${role.roleName}`
    );
  }

  /** The Namespaces of the Profiles not being deleted, from one LIST of every Namespace. */
  private async listNamespaces(
    profiles: readonly ObservedProfile[],
    signal: AbortSignal,
  ): Promise<Map<string, ObservedNamespace>> {
    const observed = new Map<string, ObservedNamespace>();
    const lister = this.deps.namespaces;
    if (lister === undefined) return observed;
    const all = await this.retrying('list Namespaces', signal, () => lister.list(signal));
    for (const profile of profiles) {
      if (profile.terminating) continue;
      observed.set(profile.name, all.get(profile.name) ?? { exists: false });
    }
    return observed;
  }

  private async readNamespace(
    name: string,
    signal: AbortSignal,
  ): Promise<ObservedNamespace | undefined> {
    const reader = this.deps.namespaces;
    if (reader === undefined) return undefined;
    return this.retrying(`get Namespace ${name}`, signal, () => reader.read(name));
  }

  private async complete(
    role: InventoryRole,
    profileExists: (namespace: string) => boolean,
    signal: AbortSignal,
    readBoundary = this.deps.readBoundary,
    tally?: IamTally,
  ): Promise<void> {
    const needs = roleReadNeeds(role, this.deps.policy, profileExists);
    const { inventory } = this.deps;
    if (needs === 'inline-policy') {
      const namespace = ownerNamespace(role, this.deps.policy.owner)!;
      const policyName = this.deps.policy.specFor(namespace).s3Policy.name;
      role.inlinePolicy = await this.retrying(
        `GetRolePolicy ${role.roleName}`,
        signal,
        () => inventory.inlinePolicy(role.roleName, policyName, signal),
        tally,
      );
      if (readBoundary) {
        role.permissionsBoundaryArn = await this.retrying(
          `GetRole ${role.roleName}`,
          signal,
          () => inventory.permissionsBoundary(role.roleName, signal),
          tally,
        );
      }
    } else if (needs === 'attachments') {
      role.attachments = await this.retrying(
        `attachments of ${role.roleName}`,
        signal,
        () => inventory.attachments(role.roleName, signal),
        tally,
        // ListRolePolicies, ListAttachedRolePolicies, ListInstanceProfilesForRole.
        3,
      );
    }
  }

  /**
   * Runs an API server or IAM call with retries of transient failures; an IAM call's attempts
   * are counted in `tally` (weighted by the requests one attempt makes).
   */
  private async retrying<T>(
    what: string,
    signal: AbortSignal,
    call: () => Promise<T>,
    tally?: IamTally,
    requests = 1,
  ): Promise<T> {
    const counted =
      tally === undefined
        ? call
        : () => {
            tally.calls += requests;
            return call();
          };
    const result = await retryTransient(what, counted, {
      signal,
      logger: this.deps.logger,
      budget: this.deps.retryBudget,
    });
    this.deps.onProgress?.();
    return result;
  }
}

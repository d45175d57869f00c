import type { Operation } from 'fast-json-patch';
import { type AdmissionRequest, pluginRole, scanPlugins } from './profile-request.js';
import { roleDrift, type Drift } from './drift.js';
import { formatDuration } from './duration.js';
import { decideMutation, type MutationContext } from './mutate.js';
import { trustAdmits } from './policy-compare.js';
import type {
  InventoryRole,
  Observation,
  ObservedProfile,
  ObservedServiceAccount,
} from './reconcile-observed.js';
import {
  PROFILE_TAG,
  isOwnedBy,
  roleOwnership,
  type RoleOwner,
  type RoleOwnership,
  type RoleSpec,
} from './role-spec.js';
import type { RoleMode } from './settings.js';
import { validateProfile, type ValidationContext } from './validate.js';

export type OrphanPolicy = 'retain' | 'delete';

/** Everything the plan decides with, fixed for the life of a process. */
export interface ReconcilePolicy {
  /** This cluster: only its roles are ever written (SPEC §3.4). */
  owner: RoleOwner;
  mode: RoleMode;
  /** The same decisions the webhooks make, so the reconciler can never disagree with them. */
  mutation: MutationContext;
  validation: ValidationContext;
  specFor(namespace: string): RoleSpec;
  orphanPolicy: OrphanPolicy;
  orphanGraceMs: number;
  annotateServiceAccounts: readonly string[];
}

export type RoleState =
  | { kind: 'in-place' }
  | { kind: 'drift'; drift: Drift[] }
  | { kind: 'missing' }
  /** The role is not ours: used as is when its trust fits, never changed. */
  | { kind: 'foreign'; usable: boolean; reason: string }
  | { kind: 'orphan'; sinceMs: number; ageMs: number }
  /** Something stops the reconciler from acting; `reason` says what a person must do. */
  | { kind: 'blocked'; reason: string }
  /** The Profile is being deleted: its role is left as it is until the Profile is gone. */
  | { kind: 'terminating' }
  /** The Profile names another role that `--allowed-role-arns` admits. */
  | { kind: 'external'; roleArn: string }
  /** Profile and role are gone; only annotations are left to remove. */
  | { kind: 'gone' };

export type ReconcileAction =
  | { kind: 'create-role'; spec: RoleSpec }
  | { kind: 'repair-role'; spec: RoleSpec; drift: Drift[] }
  | { kind: 'add-plugin'; profile: string; resourceVersion: string | undefined; patch: Operation[] }
  | { kind: 'annotate-service-account'; namespace: string; name: string; roleArn: string }
  | { kind: 'unannotate-service-account'; namespace: string; name: string; roleArn: string }
  | { kind: 'delete-role'; namespace: string; roleName: string; inlinePolicies: string[] };

export type ActionKind = ReconcileAction['kind'];

export interface NamespacePlan {
  namespace: string;
  roleName: string | undefined;
  roleArn: string | undefined;
  state: RoleState;
  /** In order: the role first, then the Profile's plugin, then service accounts. */
  actions: ReconcileAction[];
  /** Why nothing (more) is done although something is out of place. */
  notes: string[];
  /** Nothing is out of place. */
  inPlace: boolean;
  /** Once every action has succeeded, nothing is out of place. */
  fixable: boolean;
  /** When to look at this namespace again without an event: the end of an orphan's grace. */
  recheckAt?: number | undefined;
}

/**
 * The namespace a role was made for, when it is this cluster's (tagged for its name and OIDC
 * provider, and trusting that provider). The one place the reconciler asks who owns a role, through
 * the same function as admission, so the two always agree.
 */
export function ownerNamespace(
  role: Pick<InventoryRole, 'tags' | 'trustPolicy'>,
  owner: RoleOwner,
): string | undefined {
  const namespace = role.tags[PROFILE_TAG];
  return namespace !== undefined && isOwnedBy(role, owner, namespace) ? namespace : undefined;
}

/** Whether the observer must read a role's inline policy (its Profile exists) or attachments. */
export function roleReadNeeds(
  role: Pick<InventoryRole, 'tags' | 'trustPolicy' | 'roleName'>,
  policy: Pick<ReconcilePolicy, 'owner' | 'specFor'>,
  profileExists: (namespace: string) => boolean,
): 'inline-policy' | 'attachments' | 'nothing' {
  const namespace = ownerNamespace(role, policy.owner);
  if (namespace === undefined) return 'nothing';
  if (!profileExists(namespace)) return 'attachments';
  return policy.specFor(namespace).roleName === role.roleName ? 'inline-policy' : 'nothing';
}

/**
 * What is out of place and what to do about it, per namespace (SPEC §3.5). Only roles tagged as
 * ours for this cluster are ever written or deleted; any other role is at most reported.
 */
export function planReconcile(observation: Observation, policy: ReconcilePolicy): NamespacePlan[] {
  const profiles = new Map(observation.profiles.map((profile) => [profile.name, profile]));
  const roles = new Map(observation.roles.map((role) => [role.roleName, role]));
  const accounts = new Map<string, ObservedServiceAccount[]>();
  for (const account of observation.serviceAccounts) {
    if (!policy.annotateServiceAccounts.includes(account.name)) continue;
    const list = accounts.get(account.namespace) ?? [];
    list.push(account);
    accounts.set(account.namespace, list);
  }
  const accountsIn = (namespace: string) => accounts.get(namespace) ?? [];

  const plans: NamespacePlan[] = [];
  const claimed = new Set<string>();
  for (const profile of observation.profiles) {
    if (!inScope(observation, profile.name)) continue;
    const plan = planProfile(profile, roles, accountsIn(profile.name), policy);
    if (plan.roleName !== undefined) claimed.add(plan.roleName);
    plans.push(plan);
  }
  for (const role of observation.roles) {
    if (claimed.has(role.roleName)) continue;
    const namespace = ownerNamespace(role, policy.owner);
    if (namespace === undefined || !inScope(observation, namespace)) continue;
    plans.push(
      profiles.has(namespace)
        ? strayPlan(role, namespace, policy)
        : orphanPlan(role, namespace, accountsIn(namespace), observation, policy),
    );
  }
  for (const [namespace, list] of accounts) {
    if (profiles.has(namespace) || !inScope(observation, namespace)) continue;
    if (plans.some((plan) => plan.namespace === namespace)) continue;
    const roleArn = policy.mutation.roleArnFor(namespace);
    const actions = unannotate(list, roleArn);
    if (actions.length === 0) continue;
    plans.push({
      namespace,
      roleName: policy.specFor(namespace).roleName,
      roleArn,
      state: { kind: 'gone' },
      actions,
      notes: [],
      inPlace: false,
      fixable: true,
    });
  }
  return plans.sort(
    (a, b) => compare(a.namespace, b.namespace) || compare(a.roleName ?? '', b.roleName ?? '') || 0,
  );
}

function planProfile(
  profile: ObservedProfile,
  roles: ReadonlyMap<string, InventoryRole>,
  accounts: ObservedServiceAccount[],
  policy: ReconcilePolicy,
): NamespacePlan {
  const namespace = profile.name;
  const base = { namespace, notes: [] as string[] };
  if (profile.terminating) {
    // Nothing done for a Profile being deleted ever makes or changes a role; the annotations
    // this webhook added go now, the role once the Profile is gone.
    const roleArn = policy.mutation.roleArnFor(namespace);
    const actions = unannotate(accounts, roleArn);
    return {
      ...base,
      roleName: policy.specFor(namespace).roleName,
      roleArn,
      state: { kind: 'terminating' },
      actions,
      inPlace: actions.length === 0,
      fixable: true,
    };
  }
  const request = createRequest(profile);
  const decision = decideMutation(request, policy.mutation);
  if (decision.kind === 'pass') {
    const verdict = validateProfile(request, policy.validation);
    if (verdict.allowed) {
      const scan = scanPlugins(profile.object);
      const plugin = scan.ok ? scan.iam[0] : undefined;
      const roleArn = plugin === undefined ? undefined : pluginRole(plugin);
      return {
        ...base,
        roleName: roleArn?.slice(roleArn.lastIndexOf('/') + 1),
        roleArn,
        state: { kind: 'external', roleArn: roleArn ?? '(none)' },
        actions: [],
        inPlace: true,
        fixable: true,
      };
    }
    return {
      ...base,
      roleName: undefined,
      roleArn: undefined,
      state: { kind: 'blocked', reason: verdict.message },
      actions: [],
      inPlace: false,
      fixable: false,
    };
  }

  const spec = policy.specFor(namespace);
  const judged = judgeRole(spec, roles.get(spec.roleName), policy);
  const actions: ReconcileAction[] = judged.action === undefined ? [] : [judged.action];
  if (judged.usable) {
    // The role is in place, or will be once the action above has run: only then the plugin.
    if (decision.patch.length > 0) {
      actions.push({
        kind: 'add-plugin',
        profile: namespace,
        resourceVersion: profile.resourceVersion,
        patch: decision.patch,
      });
    }
    for (const name of policy.annotateServiceAccounts) {
      const account = accounts.find((a) => a.name === name);
      if (account !== undefined && account.roleArn !== spec.roleArn) {
        actions.push({ kind: 'annotate-service-account', namespace, name, roleArn: spec.roleArn });
      }
    }
  }
  const stateIsFine = judged.state.kind === 'in-place' || judged.state.kind === 'foreign';
  return {
    ...base,
    roleName: spec.roleName,
    roleArn: spec.roleArn,
    state: judged.state,
    actions,
    inPlace: stateIsFine && judged.usable && actions.length === 0,
    fixable: judged.usable,
  };
}

interface Judgement {
  state: RoleState;
  action?: ReconcileAction;
  /** The role can serve the Profile now, or will after `action`. */
  usable: boolean;
}

/** The admission's rules for the namespace's derived role (SPEC §3.4), applied to what IAM holds. */
function judgeRole(
  spec: RoleSpec,
  role: InventoryRole | undefined,
  policy: ReconcilePolicy,
): Judgement {
  if (role === undefined) {
    if (policy.mode === 'lookup') {
      return {
        state: {
          kind: 'blocked',
          reason: `role ${spec.roleName} does not exist and the webhook runs in lookup mode; create it`,
        },
        usable: false,
      };
    }
    return { state: { kind: 'missing' }, action: { kind: 'create-role', spec }, usable: true };
  }
  if (role.arn !== spec.roleArn) {
    return {
      state: {
        kind: 'blocked',
        reason: `role ${spec.roleName} exists as ${role.arn}, not as ${spec.roleArn}; move or rename it`,
      },
      usable: false,
    };
  }
  const ownership = roleOwnership(role, policy.owner);
  if (
    policy.mode === 'provision' &&
    ownership.kind === 'owned' &&
    ownership.profile === spec.namespace
  ) {
    const drift = roleDrift(spec, {
      trustPolicy: role.trustPolicy,
      inlinePolicy: role.inlinePolicy,
      permissionsBoundaryArn: role.permissionsBoundaryArn,
      maxSessionDuration: role.maxSessionDuration,
      tags: role.tags,
    });
    if (drift.length === 0) return { state: { kind: 'in-place' }, usable: true };
    return {
      state: { kind: 'drift', drift },
      action: { kind: 'repair-role', spec, drift },
      usable: true,
    };
  }
  const whose = policy.mode === 'lookup' ? 'lookup mode' : describeOwnership(ownership);
  // Another cluster's role is never used either: its sessions would reach that cluster's buckets.
  if (ownership.kind === 'other-cluster') {
    return {
      state: { kind: 'foreign', usable: false, reason: `${whose}; never used here` },
      usable: false,
    };
  }
  const verdict = trustAdmits(role.trustPolicy ?? '', spec.trustPolicy);
  if (verdict.ok) {
    return {
      state: { kind: 'foreign', usable: true, reason: `${whose}; used as is` },
      usable: true,
    };
  }
  return {
    state: { kind: 'foreign', usable: false, reason: `${whose}; ${verdict.reason}` },
    usable: false,
  };
}

/** A role tagged for an existing Profile that is not that Profile's derived role. */
function strayPlan(role: InventoryRole, namespace: string, policy: ReconcilePolicy): NamespacePlan {
  const expected = policy.specFor(namespace).roleName;
  return {
    namespace,
    roleName: role.roleName,
    roleArn: role.arn,
    state: {
      kind: 'blocked',
      reason: `tagged for Profile ${namespace}, whose role is ${expected} (did the role name template or path change?); left alone`,
    },
    actions: [],
    notes: [],
    inPlace: false,
    fixable: false,
  };
}

function orphanPlan(
  role: InventoryRole,
  namespace: string,
  accounts: ObservedServiceAccount[],
  observation: Observation,
  policy: ReconcilePolicy,
): NamespacePlan {
  const { now } = observation;
  // An orphan counts from the later of the role's creation and the moment its Profile was seen
  // to go: a role made by an admission still in flight is never old enough to be taken.
  const sinceMs = Math.max(
    role.createdAt ?? now,
    observation.goneAt.get(namespace) ?? Number.NEGATIVE_INFINITY,
  );
  const ageMs = Math.max(0, now - sinceMs);
  const actions = unannotate(accounts, role.arn);
  const notes: string[] = [];
  let recheckAt: number | undefined;
  let deletable = false;
  const attachments = role.attachments;
  if (policy.orphanPolicy === 'retain') {
    notes.push('kept (--orphan-policy retain)');
  } else if (policy.mode === 'lookup') {
    notes.push('kept: lookup mode never deletes a role');
  } else if (ageMs < policy.orphanGraceMs) {
    recheckAt = sinceMs + policy.orphanGraceMs;
    notes.push(`deleted in ${formatDuration(recheckAt - now)}, once past the orphan grace`);
  } else if (attachments === undefined) {
    notes.push('kept: its attachments could not be read');
  } else if (attachments.managedPolicies.length > 0 || attachments.instanceProfiles.length > 0) {
    const what = [
      ...attachments.managedPolicies.map((arn) => `managed policy ${arn}`),
      ...attachments.instanceProfiles.map((name) => `instance profile ${name}`),
    ].join(', ');
    notes.push(`kept: it has ${what} attached; detach them or delete the role by hand`);
  } else {
    deletable = true;
    actions.push({
      kind: 'delete-role',
      namespace,
      roleName: role.roleName,
      inlinePolicies: attachments.inlinePolicies,
    });
  }
  return {
    namespace,
    roleName: role.roleName,
    roleArn: role.arn,
    state: { kind: 'orphan', sinceMs, ageMs },
    actions,
    notes,
    inPlace: false,
    fixable: deletable,
    recheckAt,
  };
}

/** Removes only annotations that name the role this webhook gave the namespace. */
function unannotate(accounts: ObservedServiceAccount[], roleArn: string): ReconcileAction[] {
  return accounts
    .filter((account) => account.roleArn === roleArn)
    .map((account) => ({
      kind: 'unannotate-service-account' as const,
      namespace: account.namespace,
      name: account.name,
      roleArn,
    }));
}

/** The Profile as a CREATE would present it: what the mutating webhook would do to it now. */
function createRequest(profile: ObservedProfile): AdmissionRequest {
  return {
    uid: 'reconcile',
    operation: 'CREATE',
    group: 'kubeflow.org',
    kind: 'Profile',
    name: profile.name,
    object: profile.object,
    oldObject: undefined,
    dryRun: false,
  };
}

function describeOwnership(ownership: RoleOwnership): string {
  switch (ownership.kind) {
    case 'unmanaged':
      return 'not managed by profile-irsa-webhook';
    case 'other-cluster':
      return `managed for cluster ${ownership.clusterName ?? '(none)'} (OIDC provider ${ownership.oidcProvider ?? '(none)'})`;
    case 'no-provider-tag':
      return "tagged for this cluster without the OIDC provider tag, so not this webhook's to change";
    case 'trust-elsewhere':
      return "tagged for this cluster, but its trust names another OIDC provider, so not this webhook's to change";
    case 'owned':
      return `managed for profile ${ownership.profile ?? '(none)'}`;
  }
}

function inScope(observation: Observation, namespace: string): boolean {
  return observation.scope.all || observation.scope.namespace === namespace;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

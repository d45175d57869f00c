import type { Operation } from 'fast-json-patch';
import { type AdmissionRequest, pluginRole, scanPlugins } from './profile-request.js';
import { roleDrift, type Drift } from './drift.js';
import { formatDuration } from './duration.js';
import { fieldPath } from './json.js';
import { decideMutation, type MutationContext } from './mutate.js';
import { namespaceOwnerProblem } from './namespace.js';
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
import { ORPHANED_SINCE_TAG, orphanedSince, PROFILE_UID_TAG } from './role-binding.js';
import type { RoleMode } from './settings.js';
import { validateProfile, type ValidationContext } from './validate.js';

export type OrphanPolicy = 'retain' | 'delete';

/** Everything the plan decides with, fixed for the life of a process. */
export interface ReconcilePolicy {
  /** This cluster: only its roles are ever written. */
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
  /** No Profile; `served`: the role was bound to a stored Profile once (its UID tag). */
  | { kind: 'orphan'; sinceMs: number; ageMs: number; served: boolean }
  /** Ours for an existing Profile, under a name the current template no longer derives. */
  | { kind: 'stray'; sinceMs: number; ageMs: number; expected: string }
  /** The Profile's namespace belongs to another owner: nothing is made or changed for it. */
  | { kind: 'refused'; reason: string }
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
  /** Records the stored Profile the role serves (its UID), replacing an earlier Profile's. */
  | {
      kind: 'bind-role';
      namespace: string;
      roleName: string;
      roleId: string | undefined;
      profileUid: string;
      previousUid: string | undefined;
    }
  /** Records when the role was first judged an orphan, for every replica to count from. */
  | {
      kind: 'mark-orphan';
      namespace: string;
      roleName: string;
      roleId: string | undefined;
      sinceMs: number;
    }
  /** Its Profile is back: the role is no orphan any more. */
  | { kind: 'unmark-orphan'; namespace: string; roleName: string; roleId: string | undefined }
  | {
      kind: 'delete-role';
      namespace: string;
      roleName: string;
      roleArn: string;
      /** Only the role with this id is deleted: one made again under the name is another. */
      roleId: string | undefined;
      inlinePolicies: string[];
      /**
       * Checked against a fresh read of the Profile before each deletion step: `profile-absent`
       * for an orphan, `not-named-by-profile` for a stray whose Profile exists.
       */
      guard: 'profile-absent' | 'not-named-by-profile';
    };

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
  // A role of an earlier name template may be deleted like an orphan: its attachments decide.
  return policy.specFor(namespace).roleName === role.roleName ? 'inline-policy' : 'attachments';
}

/**
 * What is out of place and what to do about it, per namespace (docs/reconciler.md). Only roles tagged as
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
    const plan = planProfile(profile, roles, accountsIn(profile.name), observation, policy);
    if (plan.roleName !== undefined) claimed.add(plan.roleName);
    plans.push(plan);
  }
  for (const role of observation.roles) {
    if (claimed.has(role.roleName)) continue;
    const namespace = ownerNamespace(role, policy.owner);
    if (namespace === undefined || !inScope(observation, namespace)) continue;
    plans.push(
      profiles.has(namespace)
        ? strayPlan(role, profiles.get(namespace)!, observation, policy)
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
  observation: Observation,
  policy: ReconcilePolicy,
): NamespacePlan {
  const namespace = profile.name;
  const base = { namespace, notes: [] as string[] };
  if (profile.terminating) {
    // Nothing done for a Profile being deleted ever makes or changes a role; the annotations
    // this webhook added go now, the role once the Profile is gone. The role did serve this
    // stored Profile, so it is bound to it (a role that never served one is not kept).
    const roleArn = policy.mutation.roleArnFor(namespace);
    const spec = policy.specFor(namespace);
    const actions = [
      ...bookkeeping(roles.get(spec.roleName), profile, spec, policy),
      ...unannotate(accounts, roleArn),
    ];
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
  const observedNamespace = observation.namespaces.get(namespace);
  const ownerProblem =
    observedNamespace === undefined
      ? undefined
      : namespaceOwnerProblem(namespace, observedNamespace, profile.object);
  if (ownerProblem !== undefined) {
    // Admission's rule: the role would serve whoever owns the namespace, so none is made,
    // repaired, bound or announced; one that exists is left as it is.
    return {
      ...base,
      roleName: spec.roleName,
      roleArn: spec.roleArn,
      state: { kind: 'refused', reason: ownerProblem },
      actions: [],
      inPlace: false,
      fixable: false,
    };
  }
  const role = roles.get(spec.roleName);
  const judged = judgeRole(spec, role, policy);
  const actions: ReconcileAction[] = judged.action === undefined ? [] : [judged.action];
  if (judged.action?.kind !== 'create-role') {
    actions.push(...bookkeeping(role, profile, spec, policy));
  }
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

/** The admission's rules for the namespace's derived role, applied to what IAM holds. */
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

/**
 * Binds a role of ours that serves a stored Profile to that Profile (its UID), and clears the
 * orphan mark of a role whose Profile is back. Only for roles this cluster owns for the namespace
 * under its derived name, and never in lookup mode (which writes nothing).
 */
function bookkeeping(
  role: InventoryRole | undefined,
  profile: ObservedProfile,
  spec: RoleSpec,
  policy: ReconcilePolicy,
): ReconcileAction[] {
  if (role === undefined || policy.mode !== 'provision') return [];
  if (role.arn !== spec.roleArn || !isOwnedBy(role, policy.owner, spec.namespace)) return [];
  const actions: ReconcileAction[] = [];
  const ids = { namespace: spec.namespace, roleName: role.roleName, roleId: role.roleId };
  const uid = profileUid(profile);
  const bound = role.tags[PROFILE_UID_TAG];
  if (uid !== undefined && bound !== uid) {
    actions.push({ kind: 'bind-role', ...ids, profileUid: uid, previousUid: bound });
  }
  if (role.tags[ORPHANED_SINCE_TAG] !== undefined) actions.push({ kind: 'unmark-orphan', ...ids });
  return actions;
}

/** A role tagged for an existing Profile that is not that Profile's derived role. */
function strayPlan(
  role: InventoryRole,
  profile: ObservedProfile,
  observation: Observation,
  policy: ReconcilePolicy,
): NamespacePlan {
  const namespace = profile.name;
  const expected = policy.specFor(namespace).roleName;
  const { now } = observation;
  const sinceMs = orphanedSince(role.tags) ?? now;
  const state: RoleState = { kind: 'stray', sinceMs, ageMs: Math.max(0, now - sinceMs), expected };
  const base = {
    namespace,
    roleName: role.roleName,
    roleArn: role.arn,
    state,
    inPlace: false,
  };
  const scan = scanPlugins(profile.object);
  const named = scan.ok && scan.iam.some((plugin) => pluginRole(plugin) === role.arn);
  if (named) {
    // The Profile's pods use it (the plugin still names it): never deleted from under them.
    return {
      ...base,
      actions: [],
      notes: [`kept: Profile ${namespace}'s plugin names it; its derived role is ${expected}`],
      fixable: false,
    };
  }
  const notes = [`the role of Profile ${namespace} is now ${expected}`];
  return {
    ...base,
    ...retireRole(role, namespace, true, sinceMs, [], notes, observation, policy),
    notes,
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
  const served = role.tags[PROFILE_UID_TAG] !== undefined;
  const goneAt = observation.goneAt.get(namespace);
  // A role that served a Profile is an orphan from the moment it was first judged one (kept on
  // the role, so a new leader and `reconcile --apply` count from the same moment), or from
  // when the watch saw its Profile go. A role that never served one counts from its creation
  // (IAM keeps that for every replica too), never earlier than a Profile seen to go.
  const sinceMs = served
    ? (orphanedSince(role.tags) ?? goneAt ?? now)
    : Math.max(role.createdAt ?? now, goneAt ?? Number.NEGATIVE_INFINITY);
  const notes: string[] = served ? [] : ['never served a stored Profile'];
  const retired = retireRole(
    role,
    namespace,
    served,
    sinceMs,
    unannotate(accounts, role.arn),
    notes,
    observation,
    policy,
  );
  return {
    namespace,
    roleName: role.roleName,
    roleArn: role.arn,
    state: { kind: 'orphan', sinceMs, ageMs: Math.max(0, now - sinceMs), served },
    ...retired,
    notes,
    inPlace: false,
  };
}

/**
 * What becomes of a role of ours that serves no Profile: kept under `retain` when it served one,
 * else deleted once past the grace, unless something IAM would refuse to delete is attached.
 * `notes` is added to.
 */
function retireRole(
  role: InventoryRole,
  namespace: string,
  served: boolean,
  sinceMs: number,
  leading: ReconcileAction[],
  notes: string[],
  observation: Observation,
  policy: ReconcilePolicy,
): Pick<NamespacePlan, 'actions' | 'fixable' | 'recheckAt'> {
  const { now } = observation;
  const actions = [...leading];
  const ids = { namespace, roleName: role.roleName, roleId: role.roleId };
  const mark =
    served && policy.mode === 'provision' && orphanedSince(role.tags) === undefined
      ? [{ kind: 'mark-orphan' as const, ...ids, sinceMs }]
      : [];
  const ageMs = Math.max(0, now - sinceMs);
  const attachments = role.attachments;
  if (policy.mode === 'lookup') {
    notes.push('kept: lookup mode never deletes a role');
  } else if (served && policy.orphanPolicy === 'retain') {
    notes.push('kept (--orphan-policy retain)');
    actions.push(...mark);
  } else if (ageMs < policy.orphanGraceMs) {
    const recheckAt = sinceMs + policy.orphanGraceMs;
    notes.push(
      `deleted in ${formatDuration(recheckAt - now)}, once past the orphan grace` +
        (served ? '' : ', whatever --orphan-policy says'),
    );
    actions.push(...mark);
    return { actions, fixable: false, recheckAt };
  } else if (attachments === undefined) {
    notes.push('kept: its attachments could not be read');
    actions.push(...mark);
  } else if (attachments.managedPolicies.length > 0 || attachments.instanceProfiles.length > 0) {
    const what = [
      ...attachments.managedPolicies.map((arn) => `managed policy ${arn}`),
      ...attachments.instanceProfiles.map((name) => `instance profile ${name}`),
    ].join(', ');
    notes.push(`kept: it has ${what} attached; detach them or delete the role by hand`);
    actions.push(...mark);
  } else {
    actions.push({
      kind: 'delete-role',
      ...ids,
      roleArn: role.arn,
      inlinePolicies: attachments.inlinePolicies,
      guard: observation.profiles.some((p) => p.name === namespace)
        ? 'not-named-by-profile'
        : 'profile-absent',
    });
    return { actions, fixable: true };
  }
  return { actions, fixable: false };
}

/** The stored Profile's UID (metadata.uid), which a new Profile of the same name does not share. */
function profileUid(profile: ObservedProfile): string | undefined {
  const uid = fieldPath(profile.object, 'metadata', 'uid');
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
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

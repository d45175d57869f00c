import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../src/core/duration.js';
import type {
  InventoryRole,
  Observation,
  ObservedProfile,
  ObservedServiceAccount,
} from '../../src/core/reconcile-observed.js';
import type { OrphanPolicy, ReconcilePolicy } from '../../src/core/reconcile-plan.js';
import { CLUSTER_TAG, deriveRoleSpec, roleOwner, trustPolicy } from '../../src/core/role-spec.js';
import type { RoleMode, RoleSettings } from '../../src/core/settings.js';
import type { ObservedNamespace } from '../../src/core/namespace.js';
import {
  ORPHANED_SINCE_TAG,
  orphanedSinceValue,
  PROFILE_UID_TAG,
} from '../../src/core/role-binding.js';
import { createDecisionContext } from '../../src/core/decision-context.js';
import { ALL_OF_S3, EC2_TRUST } from './iam-roles.js';
import { testPolicySettings, testRoleSettings } from './settings.js';

export interface PlanCase {
  name: string;
  settings?: {
    orphanPolicy?: OrphanPolicy;
    orphanGrace?: string;
    annotate?: string[];
    mode?: RoleMode;
    allowedRoleArns?: string[];
    extraTags?: Record<string, string>;
  };
  scope?: string;
  profiles?: {
    name: string;
    plugin?: string;
    terminating?: boolean;
    /** metadata.uid; `uid-NAME` by default. */
    uid?: string;
    /** The owner annotation of its Namespace (`spec.owner.name` is `NAME@example.com`). */
    namespaceOwner?: string;
  }[];
  roles?: {
    for: string;
    name?: string;
    path?: string;
    tags?: 'ours' | 'none' | 'other-cluster';
    dropTag?: string;
    /** `wrong-subject`: this cluster's provider, another service account; `other-provider`. */
    trust?: 'derived' | 'ec2' | 'wrong-subject' | 'other-provider';
    trustServiceAccounts?: string[];
    inline?: 'derived' | 'missing' | 'wide';
    age?: string;
    attachments?: { managed?: string[]; instanceProfiles?: string[] };
    /** The Profile UID tag: `uid-FOR` by default (bound), `none`, or a value. */
    uid?: string;
    /** The orphaned-since tag, that long ago. */
    orphanedAgo?: string;
  }[];
  serviceAccounts?: { namespace: string; name: string; roleArn: string }[];
  goneAgo?: Record<string, string>;
  expect: Record<
    string,
    {
      state: string;
      drift?: string[];
      actions?: string[];
      inPlace?: boolean;
      fixable?: boolean;
      reason?: string;
      note?: string;
      recheckIn?: string;
    }
  >;
}

export const NOW = Date.parse('2026-12-01T12:00:00Z');

export function loadPlanCases(): PlanCase[] {
  const url = new URL('../fixtures/reconcile/plan.yaml', import.meta.url);
  return parseYaml(readFileSync(url, 'utf8')) as PlanCase[];
}

export function duration(text: string): number {
  const ms = parseDuration(text.endsWith('d') ? `${Number(text.slice(0, -1)) * 24}h` : text);
  if (ms === undefined) throw new Error(`fixture: bad duration ${text}`);
  return ms;
}

function caseRoleSettings(c: PlanCase): RoleSettings {
  return testRoleSettings({
    serviceAccounts: ['default-editor', ...(c.settings?.annotate ?? [])],
    extraTags: c.settings?.extraTags ?? {},
  });
}

export function casePolicy(c: PlanCase): ReconcilePolicy {
  const role = caseRoleSettings(c);
  const decisions = createDecisionContext(
    role,
    testPolicySettings({ allowedRoleArns: c.settings?.allowedRoleArns ?? [] }),
  );
  return {
    owner: roleOwner(role),
    mode: c.settings?.mode ?? 'provision',
    mutation: decisions.mutation,
    validation: decisions.validation,
    specFor: decisions.specFor,
    orphanPolicy: c.settings?.orphanPolicy ?? 'retain',
    orphanGraceMs: duration(c.settings?.orphanGrace ?? '10m'),
    annotateServiceAccounts: c.settings?.annotate ?? [],
  };
}

/** Expands a case's shorthand into what the observer would have read. */
export function caseObservation(c: PlanCase): Observation {
  const settings = caseRoleSettings(c);
  const specFor = (namespace: string) => deriveRoleSpec(settings, namespace);
  const profiles: ObservedProfile[] = (c.profiles ?? []).map((p) => {
    const arn = specFor(p.name).roleArn;
    const plugin = p.plugin ?? 'derived';
    const spec =
      plugin === 'none'
        ? { owner: { kind: 'User', name: `${p.name}@example.com` } }
        : {
            owner: { kind: 'User', name: `${p.name}@example.com` },
            plugins: [
              {
                kind: 'AwsIamForServiceAccount',
                spec:
                  plugin === 'derived'
                    ? { awsIamRole: arn, annotateOnly: true }
                    : plugin === 'no-annotate-only'
                      ? { awsIamRole: arn }
                      : plugin === 'malformed'
                        ? { awsIamRole: arn, annotateOnly: false }
                        : { awsIamRole: plugin, annotateOnly: true },
              },
            ],
          };
    return {
      name: p.name,
      resourceVersion: '42',
      terminating: p.terminating === true,
      object: {
        apiVersion: 'kubeflow.org/v1',
        kind: 'Profile',
        metadata: {
          name: p.name,
          uid: p.uid ?? `uid-${p.name}`,
          resourceVersion: '42',
          ...(p.terminating ? { deletionTimestamp: '2026-12-01T11:59:00Z' } : {}),
        },
        spec,
      },
    };
  });
  const roles: InventoryRole[] = (c.roles ?? []).map((r) => {
    const spec = specFor(r.for);
    const tags: Record<string, string> =
      r.tags === 'none'
        ? {}
        : r.tags === 'other-cluster'
          ? { ...spec.tags, [CLUSTER_TAG]: 'staging' }
          : { ...spec.tags };
    if (r.dropTag !== undefined) delete tags[r.dropTag];
    if (r.tags !== 'none' && r.uid !== 'none') tags[PROFILE_UID_TAG] = r.uid ?? `uid-${r.for}`;
    if (r.orphanedAgo !== undefined) {
      tags[ORPHANED_SINCE_TAG] = orphanedSinceValue(NOW - duration(r.orphanedAgo));
    }
    const trust =
      r.trust === 'ec2'
        ? EC2_TRUST
        : r.trust === 'wrong-subject'
          ? trustPolicy({ ...settings, serviceAccounts: ['intruder'] }, r.for)
          : r.trust === 'other-provider'
            ? trustPolicy({ ...settings, oidcIssuer: 'https://oidc.example.com/id/OTHER' }, r.for)
            : r.trustServiceAccounts !== undefined
              ? trustPolicy({ ...settings, serviceAccounts: r.trustServiceAccounts }, r.for)
              : spec.trustPolicy;
    const inline =
      r.inline === 'missing' ? undefined : r.inline === 'wide' ? ALL_OF_S3 : spec.s3Policy.document;
    const roleName = r.name ?? spec.roleName;
    const path = r.path ?? spec.rolePath;
    return {
      roleName,
      arn: `arn:aws:iam::111122223333:role${path}${roleName}`,
      roleId: `AROA${roleName.toUpperCase().replaceAll('-', '')}`,
      createdAt: NOW - duration(r.age ?? '1h'),
      tags,
      // As IAM returns them: URL-encoded.
      trustPolicy: encodeURIComponent(JSON.stringify(trust)),
      inlinePolicy: inline === undefined ? undefined : encodeURIComponent(JSON.stringify(inline)),
      attachments: {
        inlinePolicies: inline === undefined ? [] : [spec.s3Policy.name],
        managedPolicies: r.attachments?.managed ?? [],
        instanceProfiles: r.attachments?.instanceProfiles ?? [],
      },
    };
  });
  const serviceAccounts: ObservedServiceAccount[] = (c.serviceAccounts ?? []).map((a) => ({
    namespace: a.namespace,
    name: a.name,
    roleArn:
      a.roleArn === 'none'
        ? undefined
        : a.roleArn === 'derived'
          ? specFor(a.namespace).roleArn
          : a.roleArn,
  }));
  return {
    scope: c.scope === undefined ? { all: true } : { all: false, namespace: c.scope },
    profiles,
    roles,
    serviceAccounts,
    namespaces: new Map<string, ObservedNamespace>(
      (c.profiles ?? [])
        .filter((p) => p.namespaceOwner !== undefined)
        .map((p) => [
          p.name,
          { exists: true, owner: p.namespaceOwner === 'none' ? undefined : p.namespaceOwner },
        ]),
    ),
    goneAt: new Map(
      Object.entries(c.goneAgo ?? {}).map(([namespace, ago]) => [namespace, NOW - duration(ago)]),
    ),
    now: NOW,
  };
}

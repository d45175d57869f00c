import type { PolicyDocument, PolicyStatement } from './policy-document.js';
import { BOOKKEEPING_TAG_KEYS, ORPHANED_SINCE_TAG, PROFILE_UID_TAG } from './role-binding.js';
import {
  bareIssuer,
  CLUSTER_TAG,
  MANAGED_BY_TAG,
  MANAGED_BY_VALUE,
  OIDC_PROVIDER_TAG,
  oidcProviderArn,
  PROFILE_TAG,
} from './role-spec.js';
import { partitionForRegion, type RoleMode, type RoleSettings } from './settings.js';

/**
 * What the webhook's own IAM policy depends on: the parts of the configuration that decide which
 * IAM calls it makes and with what. `{...roleSettings, mode}` is one.
 */
export type IamPolicySettings = Pick<
  RoleSettings,
  | 'accountId'
  | 'region'
  | 'clusterName'
  | 'oidcIssuer'
  | 'rolePath'
  | 'extraTags'
  | 'permissionsBoundary'
  | 's3Buckets'
> & { mode: RoleMode };

/** One IAM call the webhook makes, with the resource and request context IAM authorizes it on. */
export interface WebhookIamCall {
  /** The API operation, e.g. `CreateRole`. */
  operation: string;
  /** The IAM action authorized, e.g. `iam:TagRole` (CreateRole with tags is authorized as both). */
  action: string;
  resource: string;
  /** Condition keys and their values as the request carries them. */
  context: Record<string, string | string[]>;
  /** Who makes the call and why, for `doctor`'s output. */
  purpose: string;
}

export interface WebhookIamCallOptions {
  /** The webhook's own role, which `doctor` simulates; a sample ARN when not given. */
  webhookRoleArn?: string;
  /** A profile to stand for every profile in the sample calls. */
  sampleNamespace?: string;
}

const BOUNDARY_SUFFIX = 'AndTheBoundary';

/**
 * The webhook's least-privilege identity policy for a configuration (docs/iam-policy.md explains
 * every statement). Every write is conditioned on the same ownership tags roleOwnership() reads:
 * this cluster's name **and** its OIDC provider. With a permissions boundary configured, a role
 * can only be created with it and only roles that carry it can be written.
 */
export function webhookIamPolicy(settings: IamPolicySettings): PolicyDocument {
  const arns = arnsFor(settings);
  const boundary = settings.permissionsBoundary;
  const withBoundary = (sid: string) => (boundary === undefined ? sid : sid + BOUNDARY_SUFFIX);
  const boundaryCondition: Record<string, string> =
    boundary === undefined ? {} : { 'iam:PermissionsBoundary': boundary };
  // doctor proves the boundary exists; in lookup mode no role gets one.
  const doctorBoundary = settings.mode === 'lookup' ? undefined : boundary;
  const tagKeys = allTagKeys(settings);
  const requestTags = ownershipRequestTags(settings);
  const owned = ownedResourceTags(settings);

  const reads: PolicyStatement[] = [
    {
      Sid: 'ReadRoles',
      Effect: 'Allow',
      Action: 'iam:GetRole',
      // Read-only and account-wide, so a role of the same name under another path reads as
      // "exists elsewhere" instead of AccessDenied.
      Resource: arns.anyRole,
    },
    {
      Sid: 'ReadRolesUnderThePath',
      Effect: 'Allow',
      Action: [
        'iam:GetRolePolicy',
        'iam:ListRolePolicies',
        'iam:ListAttachedRolePolicies',
        'iam:ListRoleTags',
        'iam:ListInstanceProfilesForRole',
      ],
      Resource: arns.rolesUnderPath,
    },
    {
      Sid: 'ListRoles',
      Effect: 'Allow',
      Action: 'iam:ListRoles',
      Resource: '*',
    },
    // One statement for doctor's reads keeps the policy under IAM's 6,144-character quota; each
    // action applies to its own kind of resource only (a provider, a policy).
    doctorBoundary === undefined
      ? {
          Sid: 'DoctorReads',
          Effect: 'Allow' as const,
          Action: 'iam:GetOpenIDConnectProvider',
          Resource: arns.oidcProvider,
        }
      : {
          Sid: 'DoctorReads',
          Effect: 'Allow' as const,
          Action: ['iam:GetOpenIDConnectProvider', 'iam:GetPolicy'],
          Resource: [arns.oidcProvider, doctorBoundary],
        },
    {
      Sid: 'DoctorSimulates',
      Effect: 'Allow',
      Action: 'iam:SimulatePrincipalPolicy',
      Resource: arns.anyRole,
    },
    {
      Sid: 'WhoAmI',
      Effect: 'Allow',
      Action: 'sts:GetCallerIdentity',
      Resource: '*',
    },
  ];

  const writes: PolicyStatement[] =
    settings.mode === 'lookup'
      ? []
      : [
          {
            Sid: withBoundary('CreateRolesUnderThePathWithTheOwnershipTags'),
            Effect: 'Allow',
            Action: 'iam:CreateRole',
            Resource: arns.rolesUnderPath,
            Condition: {
              StringEquals: { ...requestTags, ...boundaryCondition },
              Null: { [`aws:RequestTag/${PROFILE_TAG}`]: 'false' },
              'ForAllValues:StringEquals': { 'aws:TagKeys': tagKeys },
            },
          },
          {
            // IAM authorizes the tags of CreateRole as iam:TagRole on the new, untagged role.
            Sid: 'TagOnlyAtCreation',
            Effect: 'Allow',
            Action: 'iam:TagRole',
            Resource: arns.rolesUnderPath,
            Condition: {
              Null: {
                ...Object.fromEntries(
                  [MANAGED_BY_TAG, CLUSTER_TAG, OIDC_PROVIDER_TAG, PROFILE_TAG].map((key) => [
                    `iam:ResourceTag/${key}`,
                    'true',
                  ]),
                ),
                [`aws:RequestTag/${PROFILE_TAG}`]: 'false',
              },
              StringEquals: requestTags,
              'ForAllValues:StringEquals': { 'aws:TagKeys': tagKeys },
            },
          },
          {
            // The configured extra tags on roles this cluster owns, and the tags of a CreateRole
            // that lost a race to another replica, should IAM authorize them on the existing role;
            // and the reconciler's bookkeeping tags (the Profile a role serves, since when it is an
            // orphan), of which only the orphan mark may be removed (the deny below).
            Sid: 'TagOwnedRolesWithOwnTagsOnly',
            Effect: 'Allow',
            Action: ['iam:TagRole', 'iam:UntagRole'],
            Resource: arns.rolesUnderPath,
            Condition: {
              StringEquals: owned,
              StringEqualsIfExists: requestTags,
              'ForAllValues:StringEquals': { 'aws:TagKeys': [...tagKeys, ...BOOKKEEPING_TAG_KEYS] },
            },
          },
          {
            Sid: withBoundary('WriteOwnedRolesOnly'),
            Effect: 'Allow',
            Action: [
              'iam:PutRolePolicy',
              'iam:UpdateAssumeRolePolicy',
              'iam:UpdateRole',
              'iam:DeleteRolePolicy',
              'iam:DeleteRole',
            ],
            Resource: arns.rolesUnderPath,
            Condition: { StringEquals: { ...owned, ...boundaryCondition } },
          },
        ];

  const denies: PolicyStatement[] = [
    {
      Sid: 'NeverPassRolesAttachPoliciesOrTouchBoundaries',
      Effect: 'Deny',
      Action: [
        'iam:PassRole',
        'iam:AttachRolePolicy',
        'iam:PutRolePermissionsBoundary',
        'iam:DeleteRolePermissionsBoundary',
        'iam:CreatePolicyVersion',
        'iam:SetDefaultPolicyVersion',
      ],
      Resource: '*',
    },
    {
      // Removing any other tag (an ownership tag above all) would let a role be stripped and
      // re-tagged as ours; an explicit deny, so no other policy on the webhook's role allows it.
      Sid: 'UntagOnlyOrphanMark',
      Effect: 'Deny',
      Action: 'iam:UntagRole',
      Resource: '*',
      Condition: { 'ForAnyValue:StringNotLike': { 'aws:TagKeys': ORPHANED_SINCE_TAG } },
    },
  ];
  if (boundary !== undefined && settings.mode !== 'lookup') {
    denies.push({
      Sid: 'NoRoleWithoutTheBoundary',
      Effect: 'Deny',
      Action: ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:UpdateAssumeRolePolicy'],
      Resource: arns.anyRole,
      Condition: { StringNotEquals: { 'iam:PermissionsBoundary': boundary } },
    });
  }
  return { Version: '2012-10-17', Statement: [...writes, ...reads, ...denies] };
}

/**
 * The permissions boundary for the roles the webhook creates: S3 on the configured buckets and
 * their objects, nothing else. Whatever a role's inline policy says (whole bucket or one
 * namespace's prefixes), its sessions can never reach beyond this.
 */
export function boundaryPolicy(
  settings: Pick<IamPolicySettings, 'region' | 's3Buckets'>,
): PolicyDocument {
  const partition = partitionForRegion(settings.region);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'PipelineBucketsOnly',
        Effect: 'Allow',
        Action: 's3:*',
        Resource: settings.s3Buckets.flatMap((bucket) => [
          `arn:${partition}:s3:::${bucket}`,
          `arn:${partition}:s3:::${bucket}/*`,
        ]),
      },
    ],
  };
}

/**
 * Every IAM call the webhook makes (admission, the reconciler, `doctor`), with the context it
 * carries, for a role standing in for every profile's role. The shipped policy must allow each;
 * the tests check that, and that the calls recorded at the IAM endpoint are all listed here.
 */
export function webhookIamCalls(
  settings: IamPolicySettings,
  options: WebhookIamCallOptions = {},
): WebhookIamCall[] {
  const arns = arnsFor(settings);
  const namespace = options.sampleNamespace ?? 'example';
  const roleName = `${namespace}-${settings.clusterName}-role`;
  const role = `${arns.roleArnPrefix}${settings.rolePath}${roleName}`;
  const elsewhere = `${arns.roleArnPrefix}/${roleName}`;
  const webhookRole = options.webhookRoleArn ?? `${arns.roleArnPrefix}/profile-irsa-webhook`;
  const boundary = settings.permissionsBoundary;
  const tags = { ...settings.extraTags, ...ownershipTagValues(settings), [PROFILE_TAG]: namespace };
  // IAM sets iam:PermissionsBoundary from the role's own boundary for these actions only.
  const existing: Record<string, string> = resourceTagContext(tags);
  const bounded: Record<string, string> = {
    ...existing,
    ...(boundary === undefined ? {} : { 'iam:PermissionsBoundary': boundary }),
  };
  const tagging = {
    ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
    'aws:TagKeys': Object.keys(tags),
  };
  const call = (
    operation: string,
    resource: string,
    context: Record<string, string | string[]>,
    purpose: string,
    action = `iam:${operation}`,
  ): WebhookIamCall => ({ operation, action, resource, context, purpose });

  const calls: WebhookIamCall[] = [
    call(
      'GetCallerIdentity',
      '*',
      {},
      'startup: the account, when not configured',
      'sts:GetCallerIdentity',
    ),
    call('GetRole', role, bounded, "admission: read the profile's role"),
    call('GetRole', elsewhere, {}, 'admission: tell a role of that name under another path'),
    call('GetOpenIDConnectProvider', arns.oidcProvider, {}, "doctor: the cluster's OIDC provider"),
    call('SimulatePrincipalPolicy', webhookRole, {}, "doctor: the webhook's own permissions"),
  ];
  if (settings.mode === 'lookup') return calls;
  if (boundary !== undefined) {
    calls.push(call('GetPolicy', boundary, {}, 'doctor: the permissions boundary exists'));
  }

  const created: Record<string, string> =
    boundary === undefined ? {} : { 'iam:PermissionsBoundary': boundary };
  calls.push(
    call('CreateRole', role, { ...tagging, ...created }, 'admission: create a missing role'),
    call('CreateRole', role, tagging, 'admission: the tags of CreateRole', 'iam:TagRole'),
    call(
      'CreateRole',
      role,
      { ...tagging, ...resourceTagContext(tags) },
      'admission: the tags of a CreateRole that lost a race to another replica',
      'iam:TagRole',
    ),
    call('PutRolePolicy', role, bounded, 'admission: put or repair the S3 inline policy'),
    call('GetRolePolicy', role, existing, 'admission: read the S3 inline policy'),
    call('ListRolePolicies', role, existing, 'admission, reconciler: inline policies of a role'),
    call('ListAttachedRolePolicies', role, existing, 'admission: managed policies of a role'),
    call('UpdateAssumeRolePolicy', role, bounded, 'admission: repair the trust policy'),
    call('UpdateRole', role, bounded, 'admission: repair the max session duration'),
    call('ListRoles', '*', {}, 'reconciler: page through the roles under the path'),
    call('ListRoleTags', role, existing, 'reconciler: the tags of a listed role'),
    call('ListInstanceProfilesForRole', role, existing, 'reconciler: before deleting an orphan'),
    call('DeleteRolePolicy', role, bounded, "reconciler: delete an orphan's inline policy"),
    call('DeleteRole', role, bounded, 'reconciler: delete an orphaned role'),
    call(
      'TagRole',
      role,
      {
        ...existing,
        [`aws:RequestTag/${PROFILE_UID_TAG}`]: '6f1c9a52-0000-4000-8000-000000000000',
        'aws:TagKeys': [PROFILE_UID_TAG],
      },
      'reconciler: bind a role to the stored Profile it serves',
    ),
    call(
      'TagRole',
      role,
      {
        ...existing,
        [`aws:RequestTag/${ORPHANED_SINCE_TAG}`]: '2026-01-01T00:00:00.000Z',
        'aws:TagKeys': [ORPHANED_SINCE_TAG],
      },
      'reconciler: mark when a role was first judged an orphan',
    ),
    call(
      'UntagRole',
      role,
      { ...existing, 'aws:TagKeys': [ORPHANED_SINCE_TAG] },
      "reconciler: clear the orphan mark when the role's Profile is back",
    ),
  );
  const extra = Object.entries(settings.extraTags);
  if (extra.length > 0) {
    calls.push(
      call(
        'TagRole',
        role,
        {
          ...existing,
          ...Object.fromEntries(extra.map(([k, v]) => [`aws:RequestTag/${k}`, v])),
          'aws:TagKeys': extra.map(([k]) => k),
        },
        'admission: repair the configured extra tags',
      ),
    );
  }
  return calls;
}

interface PolicyArns {
  /** `arn:{partition}:iam::{account}:role`, to which a path and name are appended. */
  roleArnPrefix: string;
  rolesUnderPath: string;
  anyRole: string;
  oidcProvider: string;
}

function arnsFor(settings: IamPolicySettings): PolicyArns {
  const partition = partitionForRegion(settings.region);
  const roleArnPrefix = `arn:${partition}:iam::${settings.accountId}:role`;
  return {
    roleArnPrefix,
    rolesUnderPath: `${roleArnPrefix}${settings.rolePath}*`,
    anyRole: `${roleArnPrefix}/*`,
    oidcProvider: oidcProviderArn(settings),
  };
}

/** The ownership tags with this cluster's values (the profile tag varies by role). */
function ownershipTagValues(settings: IamPolicySettings): Record<string, string> {
  return {
    [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
    [CLUSTER_TAG]: settings.clusterName,
    [OIDC_PROVIDER_TAG]: bareIssuer(settings.oidcIssuer),
  };
}

/** Request tags a role of this cluster is created with: ownership and the configured extras. */
function ownershipRequestTags(settings: IamPolicySettings): Record<string, string> {
  const tags = { ...settings.extraTags, ...ownershipTagValues(settings) };
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v]));
}

function ownedResourceTags(settings: IamPolicySettings): Record<string, string> {
  return Object.fromEntries(
    Object.entries(ownershipTagValues(settings)).map(([k, v]) => [`iam:ResourceTag/${k}`, v]),
  );
}

function allTagKeys(settings: IamPolicySettings): string[] {
  return [
    MANAGED_BY_TAG,
    CLUSTER_TAG,
    OIDC_PROVIDER_TAG,
    PROFILE_TAG,
    ...Object.keys(settings.extraTags),
  ];
}

/** A role's tags as the condition keys IAM sets from them. */
function resourceTagContext(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tags).flatMap(([k, v]) => [
      [`iam:ResourceTag/${k}`, v],
      [`aws:ResourceTag/${k}`, v],
    ]),
  );
}

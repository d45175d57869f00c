import { isObject } from './json.js';
import { parsePolicyDocument } from './policy-compare.js';
import type { PolicyDocument } from './policy-document.js';
import { roleNameFor } from './role-name.js';
import { s3Policy, s3PolicyName } from './s3-policy.js';
import { partitionForRegion, type RoleSettings } from './settings.js';

/** Everything the webhook wants to be true in IAM for one profile namespace. */
export interface RoleSpec {
  namespace: string;
  roleName: string;
  rolePath: string;
  roleArn: string;
  trustPolicy: PolicyDocument;
  s3Policy: { name: string; document: PolicyDocument };
  tags: Record<string, string>;
  permissionsBoundary?: string | undefined;
  maxSessionDuration?: number | undefined;
  /** Who the role belongs to: only a role of this owner is ever written. */
  owner: RoleOwner;
}

export const MANAGED_BY_TAG = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'profile-irsa-webhook';
export const CLUSTER_TAG = 'profile-irsa-webhook/cluster';
export const PROFILE_TAG = 'kubeflow.org/profile';
/**
 * The cluster's OIDC provider (the bare issuer). EKS cluster names are unique per region only,
 * so the name alone cannot tell two clusters of one account apart; the provider can.
 */
export const OIDC_PROVIDER_TAG = 'profile-irsa-webhook/oidc-provider';

/** The issuer as IAM names it in provider ARNs and condition keys: no scheme, no trailing slash. */
export function bareIssuer(issuer: string): string {
  return issuer.replace(/^https:\/\//, '').replace(/\/+$/, '');
}

/** IAM's limits for a tag value: 256 characters of letters, digits, spaces and `_.:/=+-@`. */
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** Why the issuer cannot be recorded in the ownership tag, or undefined when it can. */
export function oidcProviderTagProblem(issuer: string): string | undefined {
  const value = bareIssuer(issuer);
  if (value === '') return 'the OIDC issuer is empty';
  if (!TAG_VALUE.test(value)) {
    return (
      `the OIDC provider ${value} cannot be an IAM tag value (at most 256 letters, digits, ` +
      'spaces and _.:/=+-@)'
    );
  }
  return undefined;
}

export function oidcProviderArn(
  settings: Pick<RoleSettings, 'region' | 'accountId' | 'oidcIssuer'>,
): string {
  const partition = partitionForRegion(settings.region);
  return `arn:${partition}:iam::${settings.accountId}:oidc-provider/${bareIssuer(settings.oidcIssuer)}`;
}

export function roleArn(settings: RoleSettings, roleName: string): string {
  const partition = partitionForRegion(settings.region);
  return `arn:${partition}:iam::${settings.accountId}:role${settings.rolePath}${roleName}`;
}

export function trustPolicy(settings: RoleSettings, namespace: string): PolicyDocument {
  const issuer = bareIssuer(settings.oidcIssuer);
  const subjects = settings.serviceAccounts.map((sa) => `system:serviceaccount:${namespace}:${sa}`);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: oidcProviderArn(settings) },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${issuer}:aud`]: 'sts.amazonaws.com',
            [`${issuer}:sub`]: subjects.length === 1 ? subjects[0]! : subjects,
          },
        },
      },
    ],
  };
}

export function roleTags(settings: RoleSettings, namespace: string): Record<string, string> {
  // The ownership tags come last so configured extra tags can never overwrite them.
  return {
    ...settings.extraTags,
    [MANAGED_BY_TAG]: MANAGED_BY_VALUE,
    [CLUSTER_TAG]: settings.clusterName,
    [OIDC_PROVIDER_TAG]: bareIssuer(settings.oidcIssuer),
    [PROFILE_TAG]: namespace,
  };
}

/** The identity of one installation of the webhook: a cluster, known by name and OIDC provider. */
export interface RoleOwner {
  clusterName: string;
  /** The bare issuer, as in the OIDC provider tag. */
  oidcProvider: string;
  /** The provider's ARN, which an owned role's trust policy names. */
  oidcProviderArn: string;
}

export function roleOwner(settings: RoleSettings): RoleOwner {
  return {
    clusterName: settings.clusterName,
    oidcProvider: bareIssuer(settings.oidcIssuer),
    oidcProviderArn: oidcProviderArn(settings),
  };
}

/** What IAM says about a role, as far as ownership goes. */
export interface ObservedOwnership {
  tags: Record<string, string>;
  /** The trust policy as IAM returns it (URL-encoded JSON) or decoded. */
  trustPolicy: unknown;
}

export type RoleOwnership =
  /** Tagged for this cluster and its OIDC provider, and trusting that provider. */
  | { kind: 'owned'; profile: string | undefined }
  /** Not made by profile-irsa-webhook (no managed-by tag of ours). */
  | { kind: 'unmanaged' }
  /** Made by profile-irsa-webhook for another cluster: another name or another OIDC provider. */
  | {
      kind: 'other-cluster';
      clusterName: string | undefined;
      oidcProvider: string | undefined;
      profile: string | undefined;
    }
  /** Tagged for this cluster by a version that did not record the provider yet. */
  | { kind: 'no-provider-tag'; profile: string | undefined; trustNamesProvider: boolean }
  /** Tagged for this cluster and provider, but its trust policy names another principal. */
  | { kind: 'trust-elsewhere'; profile: string | undefined };

/**
 * Whose role this is: the one place that decides, for the ensurer and the reconciler alike. A
 * role is ours only when it is tagged for this cluster **and** its OIDC provider, and its trust
 * policy names that provider: the tags alone can be copied, and a cluster name is only unique in
 * one region. The shipped IAM policy (iam-policy.ts) puts the same tag conditions on every write.
 */
export function roleOwnership(role: ObservedOwnership, owner: RoleOwner): RoleOwnership {
  const { tags } = role;
  const profile = tags[PROFILE_TAG];
  if (tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE) return { kind: 'unmanaged' };
  const provider = tags[OIDC_PROVIDER_TAG];
  if (
    tags[CLUSTER_TAG] !== owner.clusterName ||
    (provider !== undefined && provider !== owner.oidcProvider)
  ) {
    return {
      kind: 'other-cluster',
      clusterName: tags[CLUSTER_TAG],
      oidcProvider: provider,
      profile,
    };
  }
  const trustNamesProvider = trustNames(role.trustPolicy, owner.oidcProviderArn);
  if (provider === undefined) return { kind: 'no-provider-tag', profile, trustNamesProvider };
  if (!trustNamesProvider) return { kind: 'trust-elsewhere', profile };
  return { kind: 'owned', profile };
}

/** True when the role is ours (see roleOwnership) and, if given, made for this profile. */
export function isOwnedBy(role: ObservedOwnership, owner: RoleOwner, namespace?: string): boolean {
  const ownership = roleOwnership(role, owner);
  return ownership.kind === 'owned' && (namespace === undefined || ownership.profile === namespace);
}

/** Whether any statement of the trust policy names `providerArn` as a federated principal. */
function trustNames(trustPolicy: unknown, providerArn: string): boolean {
  let document = trustPolicy;
  if (typeof document === 'string') {
    try {
      document = parsePolicyDocument(document);
    } catch {
      return false;
    }
  }
  const statements = isObject(document) ? document['Statement'] : undefined;
  const list = Array.isArray(statements) ? statements : [statements];
  return list.some((statement) => {
    const principal = isObject(statement) ? statement['Principal'] : undefined;
    const federated = isObject(principal) ? principal['Federated'] : undefined;
    const arns = Array.isArray(federated) ? federated : [federated];
    return arns.includes(providerArn);
  });
}

export function deriveRoleSpec(settings: RoleSettings, namespace: string): RoleSpec {
  const roleName = roleNameFor(
    settings.roleNameTemplate,
    namespace,
    settings.clusterName,
    settings.region,
  );
  return {
    namespace,
    roleName,
    rolePath: settings.rolePath,
    roleArn: roleArn(settings, roleName),
    trustPolicy: trustPolicy(settings, namespace),
    s3Policy: { name: s3PolicyName(namespace), document: s3Policy(settings, namespace) },
    tags: roleTags(settings, namespace),
    permissionsBoundary: settings.permissionsBoundary,
    maxSessionDuration: settings.maxSessionDuration,
    owner: roleOwner(settings),
  };
}

import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import {
  boundaryNotSet,
  extraPermissions,
  foreignCluster,
  roleNotOurs,
} from '../../src/iam/errors.js';
import { REQUIRED_ENV, testRoleSettings } from '../helpers/settings.js';

// The denials a user reads when a role is not this cluster's to change: each names both sides
// and what to do.

const spec = deriveRoleSpec(testRoleSettings(), 'team-a');
const ours = spec.owner.oidcProvider;

t.test('a recreated cluster of the same name in the same region', async (t) => {
  const err = foreignCluster(spec, {
    kind: 'other-cluster',
    clusterName: 'prod',
    oidcProvider: 'oidc.eks.us-east-1.amazonaws.com/id/OLDCLUSTER',
    profile: 'team-a',
  });
  t.equal(err.reason, 'foreign-cluster');
  t.equal(err.retryable, false);
  t.match(
    err.message,
    'belongs to cluster prod (OIDC provider oidc.eks.us-east-1.amazonaws.com/id/OLDCLUSTER, profile team-a)',
  );
  t.match(err.message, `not to this cluster prod (OIDC provider ${ours}, profile team-a)`);
  t.match(err.message, 'delete the role if that cluster is gone');
});

t.test('a provider that is not an EKS issuer gives the general hint', async (t) => {
  const err = foreignCluster(spec, {
    kind: 'other-cluster',
    clusterName: 'prod',
    oidcProvider: undefined,
    profile: undefined,
  });
  t.match(err.message, 'OIDC provider not recorded, profile (none)');
  t.match(err.message, "--role-name-template '{namespace}-{cluster}-{region}-role'");
});

t.test('a role that is not ours and does not trust the namespace', async (t) => {
  const legacy = roleNotOurs(
    spec,
    { kind: 'no-provider-tag', profile: 'team-a', trustNamesProvider: true },
    'provision',
    'its trust policy does not admit x',
  );
  t.match(
    legacy.message,
    `aws iam tag-role --role-name ${spec.roleName} --tags Key=profile-irsa-webhook/oidc-provider,Value=${ours}`,
  );
  const lookup = roleNotOurs(spec, { kind: 'unmanaged' }, 'lookup', 'r');
  t.match(lookup.message, 'the webhook runs in lookup mode and changes no role');
  const otherProfile = roleNotOurs(spec, { kind: 'owned', profile: 'team-b' }, 'provision', 'r');
  t.match(otherProfile.message, 'is managed for profile team-b, not team-a');
});

t.test('extra permissions and a boundary that differs', async (t) => {
  const extra = extraPermissions(spec, ['arn:aws:iam::aws:policy/AdministratorAccess'], ['x', 'y']);
  t.match(
    extra.message,
    'managed policies attached: arn:aws:iam::aws:policy/AdministratorAccess; inline policies other than kf-team-a-pipeline-s3: x, y',
  );
  const boundary = 'arn:aws:iam::111122223333:policy/new';
  const withBoundary = deriveRoleSpec(
    testRoleSettings({ permissionsBoundary: boundary }),
    'team-a',
  );
  const err = boundaryNotSet(withBoundary, 'arn:aws:iam::111122223333:policy/old', '');
  t.match(
    err.message,
    `has permissions boundary arn:aws:iam::111122223333:policy/old, not the configured ${boundary}`,
  );
  t.notMatch(err.message, 'cannot repair');
  t.match(err.message, `--permissions-boundary ${boundary}`);
});

t.test('configuration: the provider tag is reserved, and the issuer must fit in it', async (t) => {
  const env = { ...REQUIRED_ENV };
  const problems = (extra: Record<string, string>) => {
    const result = loadConfig({}, { ...env, ...extra });
    return result.ok ? [] : result.problems;
  };
  t.match(problems({ EXTRA_ROLE_TAGS: 'profile-irsa-webhook/oidc-provider=x' }), [
    /tag "profile-irsa-webhook\/oidc-provider" is set twice or is one the webhook sets itself/,
  ]);
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`).join(',');
  t.same(problems({ EXTRA_ROLE_TAGS: tags(46) }), [], 'IAM allows 50 tags: 46 besides ours');
  t.match(problems({ EXTRA_ROLE_TAGS: tags(47) }), [/at most 46 extra tags/]);
  t.match(problems({ OIDC_ISSUER: `https://issuer.example.com/${'a'.repeat(300)}` }), [
    /--oidc-issuer .*cannot be an IAM tag value/,
  ]);
});

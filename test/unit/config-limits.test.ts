import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { REQUIRED_ENV, testRoleSettings } from '../helpers/settings.js';

const load = (env: Record<string, string>) => loadConfig({}, { ...REQUIRED_ENV, ...env });
const problems = (env: Record<string, string>) => {
  const result = load(env);
  return result.ok ? '' : result.problems.join('\n');
};

t.test('an issuer that would fail later is refused at start', async (t) => {
  for (const [issuer, reason] of [
    ['http://oidc.eks.us-east-1.amazonaws.com/id/ABC', /https:\/\/ URL/],
    ['ftp://oidc.eks.us-east-1.amazonaws.com/id/ABC', /https:\/\/ URL/],
    ['https://oidc.eks.us-east-1.amazonaws.com/id/ABC/', /must not end in \//],
    ['https://oidc.eks.us-east-1.amazonaws.com/', /must not end in \//],
    ['https://oidc.eks.us-east-1.amazonaws.com/id/ABC?x=1', /must not have a query/],
    ['https://oidc.eks.us-east-1.amazonaws.com/id/ABC?', /must not have a query/],
    ['https://oidc.eks.us-east-1.amazonaws.com/id/ABC#f', /must not have a fragment/],
    ['https://user:pw@oidc.example.com/id/ABC', /credentials/],
    ['https://OIDC.example.com/id/ABC', /must be written as https:\/\/oidc\.example\.com\/id\/ABC/],
    ['https://oidc.example.com/id/../ABC', /must be written as/],
    ['https://oidc.example.com:443/id/ABC', /must be written as/],
    ['https://oidc example.com/id', /issuer URL/],
  ] as const) {
    t.match(problems({ OIDC_ISSUER: issuer }), reason, issuer);
  }
  for (const issuer of [
    'https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
    'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
    'https://oidc.example.com:8443/realms/k8s',
  ]) {
    t.ok(load({ OIDC_ISSUER: issuer }).ok, `${issuer} is accepted`);
  }
});

t.test(
  'extra role tags: what IAM allows is carried, what it refuses is refused at start',
  async (t) => {
    const result = load({
      EXTRA_ROLE_TAGS: 'team=ml platform, formula=a=b+c, ünïcødé=ñ, empty=, path=/x/y:z@w',
    });
    t.ok(result.ok, result.ok ? 'accepted' : result.problems.join('; '));
    if (result.ok) {
      t.same(result.config.extraRoleTags, {
        team: 'ml platform',
        formula: 'a=b+c',
        ünïcødé: 'ñ',
        empty: '',
        path: '/x/y:z@w',
      });
      const tags = deriveRoleSpec(
        testRoleSettings({ extraTags: result.config.extraRoleTags }),
        'team-a',
      ).tags;
      t.equal(tags['formula'], 'a=b+c', 'a value with = is carried whole');
    }
    for (const [tags, reason] of [
      ['k'.repeat(129) + '=v', /longer than 128 characters/],
      ['k=' + 'v'.repeat(257), /longer than 256 characters/],
      ['k=semi;colon', /characters IAM does not allow/],
      ['k=quote"', /characters IAM does not allow/],
      ['k*=v', /characters IAM does not allow/],
      ['aws:cost=1', /aws: prefix is reserved/],
      ['AWS:cost=1', /aws: prefix is reserved/],
      ['app.kubernetes.io/managed-by=me', /one the webhook sets itself/],
      ['Kubeflow.org/Profile=x', /only by case/],
      ['team=a,team=b', /set twice/],
      ['Team=a,team=b', /only by case/],
      ['=v', /is not key=value/],
      ['novalue', /is not key=value/],
    ] as const) {
      t.match(problems({ EXTRA_ROLE_TAGS: tags }), reason, tags);
    }
    // Lengths are characters, as IAM counts them, not UTF-16 units.
    t.ok(load({ EXTRA_ROLE_TAGS: `k=${'𠀀'.repeat(256)}` }).ok, '256 letters outside the BMP fit');
    t.ok(load({ EXTRA_ROLE_TAGS: `${'ü'.repeat(128)}=v` }).ok, 'a 128-character key fits');
  },
);

t.test("50 tags per role, counting the webhook's own", async (t) => {
  const ours = Object.keys(deriveRoleSpec(testRoleSettings(), 'team-a').tags).length;
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}=v`).join(',');
  t.ok(load({ EXTRA_ROLE_TAGS: tags(50 - ours) }).ok, `${50 - ours} extra tags fit`);
  t.match(problems({ EXTRA_ROLE_TAGS: tags(51 - ours) }), /IAM allows 50 per role/);
});

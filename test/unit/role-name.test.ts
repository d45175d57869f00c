import t from 'tap';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.js';
import { plan } from '../../src/commands/plan.js';
import { roleSettings } from '../../src/config/settings.js';
import { policySettings } from '../../src/config/settings.js';
import {
  deriveRoleName,
  ROLE_NAME_CHARS,
  ROLE_NAME_MAX,
  roleNameTemplateProblem,
} from '../../src/core/role-name.js';
import { ACCOUNT_ID, ISSUER, REQUIRED_ENV } from '../helpers/settings.js';

// Names are compared as IAM does: without regard to case.
const iamKey = (name: string) => name.toLowerCase();

const namespaceArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/),
  // Long ones, where shortening starts.
  fc.stringMatching(/^[a-z0-9][-a-z0-9]{50,61}[a-z0-9]$/),
  // Namespaces that end the way a shortened name does.
  fc
    .tuple(fc.stringMatching(/^[a-z0-9][-a-z0-9]{0,40}$/), fc.stringMatching(/^[0-9a-f]{10}$/))
    .map(([head, hash]) => `${head}-${hash}`),
);
const clusterArb = fc.oneof(
  fc.constantFrom('prod', 'a-prod', 'ml_Platform-2', 'c'.repeat(100), 'x-DEADBEEF01'),
  fc.stringMatching(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/),
);
const regionArb = fc.constantFrom('us-east-1', 'eu-west-1', 'us-gov-west-1', 'eusc-de-east-1');
/** Templates from placeholders and IAM-alphabet literals, including hex-looking ones. */
const templateArb = fc
  .array(
    fc.oneof(
      fc.constantFrom('{namespace}', '{cluster}', '{region}', '-', '.', '_', 'role', 'kf'),
      fc.stringMatching(/^[\w+=,.@-]{1,12}$/),
      fc.stringMatching(/^-[0-9a-f]{10}$/),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => parts.join(''));

const candidate = fc.record({ template: templateArb, cluster: clusterArb, region: regionArb });
/** A template with the cluster it runs on, as the configuration accepts it. */
const accepted = candidate.filter(
  ({ template, cluster, region }) =>
    roleNameTemplateProblem(template, cluster, region) === undefined,
);

t.test('the configuration accepts exactly the templates the core accepts', async (t) => {
  fc.assert(
    fc.property(candidate, ({ template, cluster, region }) => {
      const env = { ...REQUIRED_ENV, CLUSTER_NAME: cluster, CLUSTER_REGION: region };
      const result = loadConfig({}, { ...env, ROLE_NAME_TEMPLATE: template });
      return result.ok === (roleNameTemplateProblem(template, cluster, region) === undefined);
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('every accepted template gives valid, stable names', async (t) => {
  fc.assert(
    fc.property(accepted, namespaceArb, ({ template, cluster, region }, namespace) => {
      const derived = deriveRoleName(template, { namespace, cluster, region });
      return (
        derived.name.length <= ROLE_NAME_MAX &&
        ROLE_NAME_CHARS.test(derived.name) &&
        deriveRoleName(template, { namespace, cluster, region }).name === derived.name &&
        (derived.shortened || derived.name === derived.full)
      );
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 runs');
});

t.test('distinct namespaces never share a role name within a cluster', async (t) => {
  fc.assert(
    fc.property(accepted, namespaceArb, namespaceArb, ({ template, cluster, region }, a, b) => {
      fc.pre(a !== b);
      const name = (namespace: string) =>
        iamKey(deriveRoleName(template, { namespace, cluster, region }).name);
      return name(a) !== name(b);
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 runs');
});

t.test('no namespace is spelled like another one’s shortened name', async (t) => {
  // The attack: take the name a long namespace shortens to, and find the namespace that the
  // template renders to exactly that name. It must get a name of its own.
  const single = templateArb.filter((template) => template.split('{namespace}').length === 2);
  fc.assert(
    fc.property(
      single,
      clusterArb,
      regionArb,
      fc.stringMatching(/^[a-z0-9][-a-z0-9]{50,61}[a-z0-9]$/),
      (template, cluster, region, long) => {
        fc.pre(roleNameTemplateProblem(template, cluster, region) === undefined);
        const victim = deriveRoleName(template, { namespace: long, cluster, region });
        fc.pre(victim.shortened);
        const [before, after] = template
          .split('{namespace}')
          .map((part) => deriveRoleName(part, { namespace: '', cluster, region }).full) as [
          string,
          string,
        ];
        const { name } = victim;
        fc.pre(name.startsWith(before) && name.endsWith(after));
        const twin = name.slice(before.length, name.length - after.length);
        fc.pre(twin !== long && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(twin));
        return (
          iamKey(deriveRoleName(template, { namespace: twin, cluster, region }).name) !==
          iamKey(name)
        );
      },
    ),
    { numRuns: 3000 },
  );
  // The case the outside review found, spelled out.
  const template = '{cluster}-{namespace}';
  const long = 'n'.repeat(63);
  const shortened = deriveRoleName(template, { namespace: long, cluster: 'prod', region: 'x' });
  t.ok(shortened.shortened);
  const twin = shortened.name.slice('prod-'.length);
  const other = deriveRoleName(template, { namespace: twin, cluster: 'prod', region: 'x' });
  t.not(other.name, shortened.name, `${twin} gets a role of its own`);
  t.ok(other.shortened, 'by being shortened itself');
});

t.test(
  'templates that cannot keep names apart are refused at start, with the reason',
  async (t) => {
    const refused = (template: string, cluster = 'prod') => {
      const result = loadConfig(
        {},
        { ...REQUIRED_ENV, CLUSTER_NAME: cluster, ROLE_NAME_TEMPLATE: template },
      );
      return result.ok ? '' : result.problems.join('\n');
    };
    t.match(
      refused('{namespace}-0123456789'),
      /ends in "-0123456789", the way shortened role names end/,
    );
    t.match(refused('{namespace}-{cluster}', 'ml-ABCDEF0123'), /the way shortened role names end/);
    t.match(refused('{cluster}-role'), /must contain \{namespace\}/);
    t.match(refused('{namespace}-{zone}'), /only \{namespace\}, \{cluster\} and \{region\}/);
    t.match(refused('{namespace}/{cluster}'), /characters IAM does not allow/);
    t.equal(refused('{namespace}-{cluster}-{region}'), '', '{region} is a placeholder');
    t.equal(refused('{namespace}.{cluster}.{region}'), '');
    t.equal(refused('{namespace}-0123456789-role'), '', 'hex inside is fine');
  },
);

t.test('{region} is substituted, once', async (t) => {
  const inputs = { namespace: 'team-a', cluster: 'prod', region: 'eu-west-1' };
  t.equal(deriveRoleName('{namespace}.{cluster}.{region}', inputs).name, 'team-a.prod.eu-west-1');
  t.equal(
    deriveRoleName('{namespace}-{cluster}', { ...inputs, cluster: '{region}' }).full,
    'team-a-{region}',
    'a value is never substituted again',
  );
});

t.test('plan shows when a name was shortened', async (t) => {
  const config = loadConfig({}, { ...REQUIRED_ENV, ACCOUNT_ID: ACCOUNT_ID, OIDC_ISSUER: ISSUER });
  if (!config.ok) throw new Error(config.problems.join());
  const role = roleSettings(config.config, ACCOUNT_ID, ISSUER);
  const policy = policySettings(config.config);
  const profile = (name: string) => ({
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    metadata: { name },
  });
  const short = plan(profile('team-a'), role, policy);
  t.equal(short.roleName, 'team-a-prod-role');
  t.equal(short.roleNameShortened, false);
  t.equal(short.roleNameFull, 'team-a-prod-role');
  const longName = 'l'.repeat(63);
  const long = plan(profile(longName), role, policy);
  t.equal(long.roleNameShortened, true);
  t.equal(long.roleNameFull, `${longName}-prod-role`);
  t.not(long.roleName, long.roleNameFull);
  t.ok(long.roleArn.endsWith(`/${long.roleName}`));
});

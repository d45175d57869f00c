import { Writable } from 'node:stream';
import t from 'tap';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  DeleteRolePermissionsBoundaryCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { pino, type Logger } from 'pino';
import { createHandMadeRole, EC2_TRUST, roleExists, roleSnapshot } from '../helpers/iam-roles.js';
import { startBlackhole } from '../helpers/tcp-faults.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { deriveRoleSpec, type RoleSpec } from '../../src/core/role-spec.js';
import type { RoleSettings } from '../../src/core/settings.js';
import { createIamClient } from '../../src/iam/client.js';
import { RoleProvisioningError } from '../../src/iam/errors.js';
import { RoleEnsurer, type EnsureResult } from '../../src/iam/role-ensurer.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import {
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  iamClientFor,
  judgedCredentials,
  startMoto,
} from '../helpers/moto.js';

const moto = await startMoto();
t.teardown(() => moto.stop());
/** Arranges and reads back IAM state behind the ensurer's back; its calls are not counted. */
const raw = iamClientFor(moto.endpoint);

const ISSUER = 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE';
const BOUNDARY = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/kubeflow-boundary`;
const WRITE_OPERATIONS = new Set([
  'CreateRole',
  'PutRolePolicy',
  'UpdateAssumeRolePolicy',
  'PutRolePermissionsBoundary',
  'UpdateRole',
  'TagRole',
  'UntagRole',
  'DeleteRole',
  'DeleteRolePolicy',
]);

function settings(overrides: Partial<RoleSettings> = {}): RoleSettings {
  return {
    clusterName: 'prod',
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT_ID,
    oidcIssuer: `https://${ISSUER}`,
    roleNameTemplate: '{namespace}-{cluster}-role',
    rolePath: '/kubeflow-profiles/',
    serviceAccounts: ['default-editor'],
    s3Access: 'readwrite',
    s3Buckets: ['pipelines'],
    permissionsBoundary: BOUNDARY,
    maxSessionDuration: 7200,
    extraTags: { team: 'ml' },
    ...overrides,
  };
}

// Each test works on its own namespaces, so tests neither depend on order nor need a reset.
let namespaceCounter = 0;
function specFor(label: string, overrides: Partial<RoleSettings> = {}): RoleSpec {
  namespaceCounter += 1;
  return deriveRoleSpec(settings(overrides), `${label}-${namespaceCounter}`);
}

interface Harness {
  ensurer: RoleEnsurer;
  metrics: Metrics;
  iam: IAMClient;
  logs: Record<string, unknown>[];
  logger: Logger;
}

function harness(
  options: {
    mode?: 'provision' | 'lookup';
    now?: () => number;
    endpoint?: string;
    /** The settings its specs are derived with: its IAM calls are judged against their policy. */
    settings?: Partial<RoleSettings>;
  } = {},
): Harness {
  const metrics = createMetrics({ defaultMetrics: false });
  const mode = options.mode ?? 'provision';
  const iam = createIamClient({
    region: MOTO_REGION,
    endpoint: options.endpoint ?? moto.endpoint,
    credentials: judgedCredentials({ ...settings(options.settings), mode }),
    metrics,
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const ensurerOptions: ConstructorParameters<typeof RoleEnsurer>[0] = {
    iam,
    mode,
    cacheTtlMs: 60_000,
    metrics,
  };
  if (options.now !== undefined) ensurerOptions.now = options.now;
  return { ensurer: new RoleEnsurer(ensurerOptions), metrics, iam, logs, logger };
}

function ensure(
  h: Harness,
  spec: RoleSpec,
  opts: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<EnsureResult> {
  // As an admission does it: the cache first, IAM on a miss.
  const cached = h.ensurer.cached(spec.namespace, spec.roleArn);
  if (cached) return Promise.resolve(cached);
  return h.ensurer.provision(spec, {
    dryRun: opts.dryRun ?? false,
    signal: opts.signal ?? AbortSignal.timeout(20_000),
    logger: h.logger,
  });
}

/** IAM calls the ensurer made, by operation and outcome, read from its metrics. */
async function calls(metrics: Metrics): Promise<{ op: string; outcome: string; n: number }[]> {
  const { values } = await metrics.iamCalls.get();
  return values.map((v) => ({
    op: String(v.labels.operation),
    outcome: String(v.labels.outcome),
    n: v.value,
  }));
}
async function count(metrics: Metrics, op?: string): Promise<number> {
  return (await calls(metrics))
    .filter((c) => op === undefined || c.op === op)
    .reduce((sum, c) => sum + c.n, 0);
}
async function writes(metrics: Metrics): Promise<number> {
  return (await calls(metrics))
    .filter((c) => WRITE_OPERATIONS.has(c.op))
    .reduce((sum, c) => sum + c.n, 0);
}

/** A trust policy that admits a whole namespace by pattern: never acceptable. */
function wildcardTrust(spec: RoleSpec): unknown {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: `arn:aws:iam::${MOTO_ACCOUNT_ID}:oidc-provider/${ISSUER}` },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${ISSUER}:aud`]: 'sts.amazonaws.com' },
          StringLike: { [`${ISSUER}:sub`]: `system:serviceaccount:${spec.namespace}:*` },
        },
      },
    ],
  };
}

async function rejection(promise: Promise<unknown>): Promise<RoleProvisioningError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RoleProvisioningError) return err;
    throw err;
  }
  throw new Error('expected a RoleProvisioningError, but the promise resolved');
}

/** Holds every call of one IAM command until released; `reached` settles when the first arrives. */
function holdCommand(
  iam: IAMClient,
  commandName: string,
): { reached: Promise<void>; release(): void } {
  let arrived!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  iam.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === commandName) {
        arrived();
        await released;
      }
      return next(args);
    },
    { step: 'initialize', name: `hold${commandName}` },
  );
  return { reached, release };
}

t.test('creates a missing role with path, tags, trust, boundary and inline policy', async (t) => {
  const h = harness();
  const spec = specFor('create');
  const result = await ensure(h, spec);
  t.same(result, { outcome: 'created', roleArn: spec.roleArn, warnings: [] });

  const { Role } = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.equal(Role?.Arn, spec.roleArn);
  t.equal(Role?.Path, '/kubeflow-profiles/');
  t.ok(policiesEqual(parsePolicyDocument(Role?.AssumeRolePolicyDocument ?? ''), spec.trustPolicy));
  t.equal(Role?.PermissionsBoundary?.PermissionsBoundaryArn, BOUNDARY);
  t.equal(Role?.MaxSessionDuration, 7200);
  const tags = Object.fromEntries((Role?.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
  t.same(tags, {
    team: 'ml',
    'app.kubernetes.io/managed-by': 'profile-irsa-webhook',
    'profile-irsa-webhook/cluster': 'prod',
    'profile-irsa-webhook/oidc-provider': ISSUER,
    'kubeflow.org/profile': spec.namespace,
  });
  const { PolicyNames } = await raw.send(new ListRolePoliciesCommand({ RoleName: spec.roleName }));
  t.same(PolicyNames, [`kf-${spec.namespace}-pipeline-s3`]);
  const policy = await raw.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  t.ok(policiesEqual(parsePolicyDocument(policy.PolicyDocument ?? ''), spec.s3Policy.document));

  t.equal(await count(h.metrics, 'CreateRole'), 1);
  t.equal(await count(h.metrics, 'PutRolePolicy'), 1);
  const writeLogs = h.logs.filter((l) => l['roleName'] === spec.roleName && l['level'] === 30);
  t.same(
    writeLogs.map((l) => l['operation']),
    ['CreateRole', 'PutRolePolicy'],
    'every write is logged at info with the role name',
  );
});

t.test('a role without boundary or session duration', async (t) => {
  const plain = { permissionsBoundary: undefined, maxSessionDuration: undefined };
  const h = harness({ settings: plain });
  const spec = specFor('plain', plain);
  t.equal((await ensure(h, spec)).outcome, 'created');
  const { Role } = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.equal(Role?.PermissionsBoundary, undefined);
  t.equal(Role?.MaxSessionDuration, 3600, "IAM's default");
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified', 'unset options are not drift');
});

t.test('idempotent: a second ensure verifies without writing', async (t) => {
  const h = harness();
  const spec = specFor('idem');
  await ensure(h, spec);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);
  h.ensurer.forget(spec.namespace);
  const again = await ensure(h, spec);
  t.same(again, { outcome: 'verified', roleArn: spec.roleArn, warnings: [] });
  t.equal(await writes(h.metrics), writesBefore, 'no write call');
  t.same(await roleSnapshot(raw, spec.roleName), before);

  // A fresh process (another replica) verifies the same role without writing either.
  const other = harness();
  t.equal((await ensure(other, spec)).outcome, 'verified');
  t.equal(await writes(other.metrics), 0);
});

t.test('a cache hit makes no IAM call; expiry, forget and another role miss', async (t) => {
  let now = 1_000_000;
  const h = harness({ now: () => now });
  const spec = specFor('cache');
  await ensure(h, spec);
  const callsBefore = await count(h.metrics);
  const hit = await ensure(h, spec);
  t.same(hit, { outcome: 'cached', roleArn: spec.roleArn, warnings: [] });
  t.equal(await count(h.metrics), callsBefore, 'zero IAM calls');
  t.equal((await h.metrics.roleCacheHits.get()).values[0]?.value, 1);

  t.equal(
    h.ensurer.cached(spec.namespace, `${spec.roleArn}-other`),
    undefined,
    'another ARN is a miss',
  );

  now += 60_001;
  t.equal((await ensure(h, spec)).outcome, 'verified', 'an expired entry is a miss');
  t.equal((await ensure(h, spec)).outcome, 'cached');
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified', 'a forgotten entry is a miss');
});

t.test('repairs drift on an owned role', async (t) => {
  const h = harness();
  const spec = specFor('drift');
  await ensure(h, spec);
  await raw.send(
    new UpdateAssumeRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyDocument: JSON.stringify(wildcardTrust(spec)),
    }),
  );
  await raw.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: spec.s3Policy.name,
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
      }),
    }),
  );
  h.ensurer.forget(spec.namespace);

  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.same(result.warnings, [`role ${spec.roleName} adopted: trust policy, inline policy repaired`]);
  const after = await roleSnapshot(raw, spec.roleName);
  t.match(after, { boundary: BOUNDARY });
  const role = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.ok(
    policiesEqual(parsePolicyDocument(role.Role?.AssumeRolePolicyDocument ?? ''), spec.trustPolicy),
  );
  const policy = await raw.send(
    new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  t.ok(policiesEqual(parsePolicyDocument(policy.PolicyDocument ?? ''), spec.s3Policy.document));

  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified', 'repaired content verifies');
});

t.test('puts a missing inline policy back (a half-made role)', async (t) => {
  const h = harness();
  const spec = specFor('half');
  await ensure(h, spec);
  await raw.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  h.ensurer.forget(spec.namespace);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.match(result.warnings[0], /missing inline policy repaired/);
  t.ok(
    await raw.send(
      new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
    ),
  );
});

t.test('an equivalent document in another form is not drift', async (t) => {
  const h = harness();
  const spec = specFor('form');
  await ensure(h, spec);
  // Same content: keys reordered, one-item arrays, Action order reversed.
  const statement = spec.s3Policy.document.Statement[0]!;
  await raw.send(
    new PutRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyName: spec.s3Policy.name,
      PolicyDocument: JSON.stringify({
        Statement: [
          {
            Resource: [...(statement.Resource as string[])].reverse(),
            Action: [...(statement.Action as string[])].reverse(),
            Effect: ['Allow'][0],
          },
        ],
        Version: '2012-10-17',
      }),
    }),
  );
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec)).outcome, 'verified');
  t.equal(await count(h.metrics, 'PutRolePolicy'), 1, 'only the first put');
});

t.test('a foreign role whose trust admits the namespace is used, never changed', async (t) => {
  const h = harness();
  const spec = specFor('foreign-ok');
  await createHandMadeRole(raw, spec, { tags: { owner: 'terraform' } });
  const before = await roleSnapshot(raw, spec.roleName);

  const result = await ensure(h, spec);
  t.equal(result.outcome, 'looked-up');
  t.equal(result.roleArn, spec.roleArn);
  t.same(result.warnings, [
    `role ${spec.roleName} is not managed by profile-irsa-webhook and is used as is`,
  ]);
  t.ok(result.warnings.every((w) => w.length <= 120));
  t.equal(await writes(h.metrics), 0, 'no write call at all');
  t.same(await roleSnapshot(raw, spec.roleName), before, 'documents, tags and policies unchanged');
  t.equal((await ensure(h, spec)).outcome, 'cached', 'a usable foreign role is cached');
});

t.test('a foreign role whose trust does not admit the namespace is refused', async (t) => {
  const h = harness();
  const spec = specFor('foreign-bad');
  await createHandMadeRole(raw, spec, { trust: wildcardTrust(spec) });
  const before = await roleSnapshot(raw, spec.roleName);

  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'foreign-role-untrusted');
  t.equal(err.roleName, spec.roleName);
  t.equal(err.retryable, false);
  t.match(err.message, spec.roleName);
  t.match(err.message, 'is not managed by profile-irsa-webhook');
  t.match(err.message, `system:serviceaccount:${spec.namespace}:default-editor`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('a role tagged for another cluster is foreign', async (t) => {
  const h = harness();
  const spec = specFor('other-cluster');
  const otherTags = { ...spec.tags, 'profile-irsa-webhook/cluster': 'staging' };

  // Even with a trust that admits the namespace: another cluster's role is neither written nor used.
  await createHandMadeRole(raw, spec, { tags: otherTags });
  const before = await roleSnapshot(raw, spec.roleName);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'foreign-cluster');
  t.equal(err.retryable, false);
  t.match(err.message, `belongs to cluster staging (OIDC provider ${ISSUER}`);
  t.match(err.message, `not to this cluster prod (OIDC provider ${ISSUER}`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);

  // With an admitting trust it is used as is: its drifted inline policy is not "repaired".
  const spec2 = specFor('other-profile');
  await createHandMadeRole(raw, spec2, {
    tags: { ...spec2.tags, 'kubeflow.org/profile': 'someone-else' },
  });
  const before2 = await roleSnapshot(raw, spec2.roleName);
  t.equal((await ensure(h, spec2)).outcome, 'looked-up');
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec2.roleName), before2);
});

t.test('a role at another path is refused', async (t) => {
  const h = harness();
  const spec = specFor('path');
  await createHandMadeRole(raw, spec, { path: '/elsewhere/', tags: spec.tags });
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'path-mismatch');
  t.match(err.message, `role/elsewhere/${spec.roleName}`);
  t.match(err.message, spec.roleArn);
  t.equal(await writes(h.metrics), 0);
});

t.test('lookup mode never creates or modifies', async (t) => {
  const h = harness({ mode: 'lookup' });

  const missing = specFor('lookup-missing');
  const err = await rejection(ensure(h, missing));
  t.equal(err.reason, 'role-missing');
  t.match(err.message, missing.roleArn);
  t.match(err.message, 'lookup mode');
  t.notOk(await roleExists(raw, missing.roleName));

  const present = specFor('lookup-present');
  await createHandMadeRole(raw, present);
  const result = await ensure(h, present);
  t.same(result, { outcome: 'looked-up', roleArn: present.roleArn, warnings: [] });

  // Even a role tagged as ours is only looked up: no repair in lookup mode.
  const owned = specFor('lookup-owned');
  await createHandMadeRole(raw, owned, { tags: owned.tags });
  const before = await roleSnapshot(raw, owned.roleName);
  t.equal((await ensure(h, owned)).outcome, 'looked-up');
  t.same(await roleSnapshot(raw, owned.roleName), before);

  const untrusted = specFor('lookup-untrusted');
  await createHandMadeRole(raw, untrusted, {
    trust: wildcardTrust(untrusted),
    tags: untrusted.tags,
  });
  const refused = await rejection(ensure(h, untrusted));
  t.equal(refused.reason, 'foreign-role-untrusted');
  t.match(refused.message, 'lookup mode');

  t.equal(await writes(h.metrics), 0, 'never a write');
});

t.test('dry run on a missing role reports would-create and creates nothing', async (t) => {
  const h = harness();
  const spec = specFor('dry-missing');
  const result = await ensure(h, spec, { dryRun: true });
  t.same(result, {
    outcome: 'would-create',
    roleArn: spec.roleArn,
    warnings: [`dry run: role ${spec.roleName} does not exist yet and was not created`],
  });
  t.notOk(await roleExists(raw, spec.roleName));
  t.equal(await writes(h.metrics), 0);
  const gets = await count(h.metrics, 'GetRole');
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'would-create', 'not cached');
  t.equal(await count(h.metrics, 'GetRole'), gets + 1);

  t.equal((await ensure(h, spec)).outcome, 'created', 'a real request afterwards creates');
});

t.test('dry run on a drifted role reports would-repair and changes nothing', async (t) => {
  const h = harness();
  const spec = specFor('dry-drift');
  await ensure(h, spec);
  await raw.send(
    new DeleteRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
  );
  h.ensurer.forget(spec.namespace);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);

  const result = await ensure(h, spec, { dryRun: true });
  t.equal(result.outcome, 'would-repair');
  t.match(result.warnings[0], /^dry run: role .* has drifted \(missing inline policy\)/);
  t.equal(await writes(h.metrics), writesBefore);
  t.same(await roleSnapshot(raw, spec.roleName), before);
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'would-repair', 'not cached');

  t.equal((await ensure(h, spec)).outcome, 'repaired');
  h.ensurer.forget(spec.namespace);
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'verified');
  t.equal((await ensure(h, spec, { dryRun: true })).outcome, 'cached', 'a verified role is cached');
});

t.test('20 concurrent ensures for one namespace share one flight', async (t) => {
  const h = harness();
  const spec = specFor('concurrent');
  const results = await Promise.all(Array.from({ length: 20 }, () => ensure(h, spec)));
  t.equal(await count(h.metrics, 'CreateRole'), 1, 'exactly one CreateRole');
  t.equal(await count(h.metrics, 'PutRolePolicy'), 1);
  t.equal(await count(h.metrics, 'GetRole'), 1);
  for (const r of results) t.same(r, results[0]);
  t.equal(results[0]?.outcome, 'created');
});

t.test('two replicas racing: EntityAlreadyExists means look it up', async (t) => {
  const spec = specFor('race');
  const a = harness();
  const b = harness();

  // Hold replica B's CreateRole until replica A has created the role completely, so B surely
  // hits EntityAlreadyExists after its own GetRole found nothing.
  const bCreate = holdCommand(b.iam, 'CreateRoleCommand');

  const bResult = ensure(b, spec);
  await bCreate.reached;
  const aResult = await ensure(a, spec);
  bCreate.release();
  t.equal(aResult.outcome, 'created');
  t.same(await bResult, { outcome: 'verified', roleArn: spec.roleArn, warnings: [] });
  // The three reads after the second GetRole run side by side, so their order is not fixed.
  const byOp = (a: { op: string; outcome: string }, b: { op: string; outcome: string }) =>
    `${a.op} ${a.outcome}`.localeCompare(`${b.op} ${b.outcome}`);
  t.same((await calls(b.metrics)).sort(byOp), [
    { op: 'CreateRole', outcome: 'EntityAlreadyExistsException', n: 1 },
    { op: 'GetRole', outcome: 'NoSuchEntityException', n: 1 },
    { op: 'GetRole', outcome: 'success', n: 1 },
    { op: 'GetRolePolicy', outcome: 'success', n: 1 },
    { op: 'ListAttachedRolePolicies', outcome: 'success', n: 1 },
    { op: 'ListRolePolicies', outcome: 'success', n: 1 },
  ]);
  t.equal(b.logs.filter((l) => /created concurrently/.test(String(l['msg']))).length, 1);

  // And an unorchestrated race: whatever the interleaving, one role and two successes.
  const spec2 = specFor('race-free');
  const [x, y] = await Promise.all([ensure(harness(), spec2), ensure(harness(), spec2)]);
  t.ok(['created', 'verified', 'repaired'].includes(x.outcome));
  t.ok(['created', 'verified', 'repaired'].includes(y.outcome));
  t.ok(x.outcome === 'created' || y.outcome === 'created');
  t.match(await roleSnapshot(raw, spec2.roleName), { arn: spec2.roleArn, boundary: BOUNDARY });
  t.ok(
    policiesEqual(
      ((await roleSnapshot(raw, spec2.roleName)) as { trust: unknown }).trust,
      spec2.trustPolicy,
    ),
  );
});

t.test('an already fired signal fails at once with a deadline error', async (t) => {
  const h = harness();
  const spec = specFor('aborted');
  const controller = new AbortController();
  controller.abort();
  const err = await rejection(ensure(h, spec, { signal: controller.signal }));
  t.equal(err.reason, 'deadline');
  t.equal(err.retryable, true);
  t.match(err.message, spec.roleName);
  t.equal(await count(h.metrics), 0, 'no IAM call');
});

t.test('a signal firing during a call ends it quickly with a deadline error', async (t) => {
  const hanging = await startBlackhole();
  t.teardown(() => hanging.close());
  const h = harness({ endpoint: hanging.endpoint });
  const spec = specFor('hang');
  const started = performance.now();
  const err = await rejection(ensure(h, spec, { signal: AbortSignal.timeout(200) }));
  const elapsed = performance.now() - started;
  t.equal(err.reason, 'deadline');
  t.equal(err.retryable, true);
  t.ok(elapsed < 5_000, `returned after ${Math.round(elapsed)} ms`);
  // The caller stops waiting at once; the cancelled request settles just after.
  await until(async () => (await count(h.metrics)) > 0 && hanging.openConnections() === 0);
  t.match(await calls(h.metrics), [{ op: 'GetRole', outcome: /Abort/ }]);
  t.equal(hanging.openConnections(), 0, 'the request was cancelled, not left hanging');
});

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('a waiter whose deadline fires does not cancel the shared flight', async (t) => {
  const h = harness();
  const spec = specFor('waiters');
  const getRole = holdCommand(h.iam, 'GetRoleCommand');

  const impatient = new AbortController();
  const first = ensure(h, spec, { signal: impatient.signal });
  const second = ensure(h, spec);
  await getRole.reached;
  impatient.abort();
  const err = await rejection(first);
  t.equal(err.reason, 'deadline');
  getRole.release();
  t.equal((await second).outcome, 'created', 'the patient caller gets the shared result');
  t.equal(await count(h.metrics, 'CreateRole'), 1);
});

// Repairs the shipped IAM policy used to deny (issue 13): each one is made here against moto,
// and the IAM recorder in front of moto judges every call against that policy.

t.test('repairs the extra tags of an owned role with TagRole of those tags only', async (t) => {
  const h = harness();
  const spec = specFor('tags');
  await ensure(h, spec);
  await raw.send(new UntagRoleCommand({ RoleName: spec.roleName, TagKeys: ['team'] }));
  await raw.send(
    new TagRoleCommand({ RoleName: spec.roleName, Tags: [{ Key: 'owner', Value: 'someone' }] }),
  );
  h.ensurer.forget(spec.namespace);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.same(result.warnings, [`role ${spec.roleName} adopted: tags repaired`]);
  const tagRoles = (await moto.recorder.requests()).filter(
    (r) => r.operation === 'TagRole' && r.params['RoleName'] === spec.roleName,
  );
  t.equal(tagRoles.length, 1);
  t.same(
    tagRoles[0]!.params,
    { ...tagRoles[0]!.params, 'Tags.member.1.Key': 'team', 'Tags.member.1.Value': 'ml' },
    'only the drifted extra tag is sent',
  );
  t.notOk('Tags.member.2.Key' in tagRoles[0]!.params);
  const { Role } = await raw.send(new GetRoleCommand({ RoleName: spec.roleName }));
  t.match(Object.fromEntries((Role?.Tags ?? []).map((tag) => [tag.Key, tag.Value])), {
    team: 'ml',
    owner: 'someone',
  });
});

t.test('repairs the max session duration of an owned role', async (t) => {
  const h = harness();
  const spec = specFor('session');
  await ensure(h, spec);
  await raw.send(new UpdateRoleCommand({ RoleName: spec.roleName, MaxSessionDuration: 3600 }));
  h.ensurer.forget(spec.namespace);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'repaired');
  t.same(result.warnings, [`role ${spec.roleName} adopted: max session duration repaired`]);
  t.match(await roleSnapshot(raw, spec.roleName), { maxSession: 7200 });
});

t.test('a missing boundary is reported, never set, and blocks other repairs', async (t) => {
  const h = harness();
  const spec = specFor('boundary');
  await ensure(h, spec);
  await raw.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: spec.roleName }));
  h.ensurer.forget(spec.namespace);

  // Nothing else drifted: the role works, the profile is admitted, the operator is told.
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'verified');
  t.match(result.warnings, [/lacks the configured permissions boundary/]);
  const logged = h.logs.find((l) => l['roleName'] === spec.roleName && l['level'] === 40);
  t.match(logged?.['msg'], `aws iam put-role-permissions-boundary --role-name ${spec.roleName}`);
  t.equal(await count(h.metrics, 'PutRolePermissionsBoundary'), 0, 'never set by the webhook');
  t.match(await roleSnapshot(raw, spec.roleName), { boundary: undefined });

  // With drift as well: the policy lets it write only roles that carry the boundary, so deny.
  await raw.send(
    new UpdateAssumeRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyDocument: JSON.stringify(wildcardTrust(spec)),
    }),
  );
  h.ensurer.forget(spec.namespace);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'boundary-not-set');
  t.equal(err.retryable, false);
  t.match(err.message, `has no permissions boundary, not the configured ${BOUNDARY}`);
  t.match(err.message, 'cannot repair its trust policy');
  t.match(err.message, `--permissions-boundary ${BOUNDARY}`);
  t.equal(await writes(h.metrics), writesBefore, 'no write');
  t.same(await roleSnapshot(raw, spec.roleName), before);

  // Once the operator has set it, the webhook repairs the rest.
  await raw.send(
    new PutRolePermissionsBoundaryCommand({
      RoleName: spec.roleName,
      PermissionsBoundary: BOUNDARY,
    }),
  );
  const repaired = await ensure(h, spec);
  t.equal(repaired.outcome, 'repaired');
  t.same(repaired.warnings, [`role ${spec.roleName} adopted: trust policy repaired`]);
});

t.test('an owned role with a managed policy attached is not adopted', async (t) => {
  const h = harness();
  const spec = specFor('attached');
  await ensure(h, spec);
  const { Policy } = await raw.send(
    new CreatePolicyCommand({
      PolicyName: `admin-${spec.namespace}`,
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
      }),
    }),
  );
  await raw.send(new AttachRolePolicyCommand({ RoleName: spec.roleName, PolicyArn: Policy!.Arn! }));
  await raw.send(
    new UpdateAssumeRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyDocument: JSON.stringify(wildcardTrust(spec)),
    }),
  );
  h.ensurer.forget(spec.namespace);
  const before = await roleSnapshot(raw, spec.roleName);
  const writesBefore = await writes(h.metrics);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'extra-permissions');
  t.match(err.message, `managed policies attached: ${Policy!.Arn!}`);
  t.match(err.message, 'does not adopt it or change its trust');
  t.equal(await writes(h.metrics), writesBefore, 'the trust is not rewritten');
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('an owned role with an inline policy of its own is not adopted', async (t) => {
  const h = harness();
  const spec = specFor('inline');
  // Tagged as ours, with the derived trust, and an extra inline policy "admin-made".
  await createHandMadeRole(raw, spec, { tags: spec.tags });
  const before = await roleSnapshot(raw, spec.roleName);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'extra-permissions');
  t.match(err.message, `inline policies other than ${spec.s3Policy.name}: admin-made`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('a role of the same name under another path reads as exactly that', async (t) => {
  // The shipped policy used to scope GetRole to the role path: on AWS this GetRole was denied and
  // the answer below never reached. The recorder now judges it against the policy.
  const h = harness();
  const spec = specFor('elsewhere');
  await createHandMadeRole(raw, spec, { path: '/teams/', tags: { owner: 'platform' } });
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'path-mismatch');
  t.match(err.message, `exists as arn:aws:iam::${MOTO_ACCOUNT_ID}:role/teams/${spec.roleName}`);
  const getRole = (await moto.recorder.requests()).find(
    (r) => r.operation === 'GetRole' && r.params['RoleName'] === spec.roleName,
  );
  t.same(
    getRole?.verdicts.map((v) => [v.request.resource, v.result]),
    [[`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/teams/${spec.roleName}`, 'Allowed']],
  );
});

t.test('a role tagged for this cluster that trusts another principal is foreign', async (t) => {
  const h = harness();
  const spec = specFor('copied-tags');
  await createHandMadeRole(raw, spec, { tags: spec.tags, trust: EC2_TRUST });
  const before = await roleSnapshot(raw, spec.roleName);
  const err = await rejection(ensure(h, spec));
  t.equal(err.reason, 'foreign-role-untrusted');
  t.match(err.message, 'its trust policy does not name');
  t.match(err.message, spec.owner.oidcProviderArn);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test('a role from before the provider tag is used as is and says how to adopt it', async (t) => {
  const h = harness();
  const spec = specFor('legacy');
  const { ['profile-irsa-webhook/oidc-provider']: _provider, ...legacyTags } = spec.tags;
  void _provider;
  await createHandMadeRole(raw, spec, { tags: legacyTags });
  const before = await roleSnapshot(raw, spec.roleName);
  const result = await ensure(h, spec);
  t.equal(result.outcome, 'looked-up');
  t.match(result.warnings, [/is not this cluster's to manage and is used as is/]);
  const logged = h.logs.find((l) => l['roleName'] === spec.roleName && l['ownership']);
  t.match(logged?.['msg'], `Key=profile-irsa-webhook/oidc-provider,Value=${ISSUER}`);
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, spec.roleName), before);
});

t.test("two clusters of one name in two regions never write each other's roles", async (t) => {
  const east = { clusterName: 'kubeflow' };
  const west = {
    clusterName: 'kubeflow',
    region: 'eu-west-1',
    oidcIssuer: 'https://oidc.eks.eu-west-1.amazonaws.com/id/WEST',
  };
  const namespace = `team-${++namespaceCounter}`;
  const eastSpec = deriveRoleSpec(settings(east), namespace);
  const westSpec = deriveRoleSpec(settings(west), namespace);
  t.equal(westSpec.roleArn, eastSpec.roleArn, 'the default template gives both the same role');

  const eastHarness = harness({ settings: east });
  const westHarness = harness({ settings: west });
  t.equal((await ensure(eastHarness, eastSpec)).outcome, 'created');
  const before = await roleSnapshot(raw, eastSpec.roleName);
  const err = await rejection(ensure(westHarness, westSpec));
  t.equal(err.reason, 'foreign-cluster');
  t.match(err.message, `belongs to cluster kubeflow (OIDC provider ${ISSUER}`);
  t.match(
    err.message,
    'this cluster kubeflow (OIDC provider oidc.eks.eu-west-1.amazonaws.com/id/WEST',
  );
  t.match(err.message, 'Two clusters named kubeflow, in us-east-1 and eu-west-1');
  t.match(err.message, "--role-name-template '{namespace}-{cluster}-{region}-role'");
  t.equal(await writes(westHarness.metrics), 0);
  t.same(await roleSnapshot(raw, eastSpec.roleName), before, "east's role is untouched");
});

t.test('team-a@prod and team@a-prod meet on one role name; neither writes the other', async (t) => {
  const suffix = ++namespaceCounter;
  const mine = deriveRoleSpec(settings({ clusterName: `prod${suffix}` }), 'team-a');
  const theirs = deriveRoleSpec(settings({ clusterName: `a-prod${suffix}` }), 'team');
  t.equal(mine.roleName, theirs.roleName);
  t.equal(
    (await ensure(harness({ settings: { clusterName: `a-prod${suffix}` } }), theirs)).outcome,
    'created',
  );
  const before = await roleSnapshot(raw, theirs.roleName);
  const h = harness({ settings: { clusterName: `prod${suffix}` } });
  const err = await rejection(ensure(h, mine));
  t.equal(err.reason, 'foreign-cluster');
  t.match(err.message, `belongs to cluster a-prod${suffix}`);
  t.match(err.message, `profile team)`);
  t.match(err.message, `this cluster prod${suffix}`);
  t.match(err.message, "--role-name-template '{namespace}.{cluster}-role'");
  t.equal(await writes(h.metrics), 0);
  t.same(await roleSnapshot(raw, theirs.roleName), before);
});

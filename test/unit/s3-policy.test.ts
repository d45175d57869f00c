import { existsSync, readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.js';
import { roleSettings } from '../../src/config/settings.js';
import { plan } from '../../src/commands/plan.js';
import { roleDrift } from '../../src/core/drift.js';
import type { PolicyDocument } from '../../src/core/policy-document.js';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import {
  expandS3PrefixPresets,
  namespacePrefixes,
  S3_PREFIX_PRESETS,
  s3Policy,
  s3ScopeProblems,
} from '../../src/core/s3-policy.js';
import type { RoleSettings, S3Access, S3Scope } from '../../src/core/settings.js';
import {
  BUCKET_WRITES,
  decide,
  describeCall,
  MULTIPART_UPLOAD,
  type S3Call,
  type S3Operation,
} from '../helpers/s3-simulation.js';
import {
  ACCOUNT_ID,
  ISSUER,
  REQUIRED_ENV,
  testPolicySettings,
  testRoleSettings,
} from '../helpers/settings.js';

const BUCKET = 'kf-artifacts';
const LEVELS: S3Access[] = ['full', 'readwrite', 'readonly'];
const KFP = S3_PREFIX_PRESETS.kfp!;
const scope = (prefixTemplates: readonly string[], extra: Partial<S3Scope> = {}): S3Scope => ({
  prefixTemplates: [...prefixTemplates],
  sharedPrefixes: [],
  sharedAccess: 'readonly',
  ...extra,
});
const policyFor = (overrides: Partial<RoleSettings>, namespace = 'team-a') =>
  s3Policy(testRoleSettings(overrides), namespace);

/**
 * The boundary docs/boundary-policy.json is to hold: S3 on the configured buckets only. Derived
 * here from that rule; the shipped file, once it exists, is checked too (below).
 */
const derivedBoundary = (bucket: string): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: 's3:*',
      Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
    },
  ],
});

/** The shipped boundary and the bucket it names (a placeholder for the defaults), if present. */
function shippedBoundary(): { policy: PolicyDocument; bucket: string } | undefined {
  const file = new URL('../../docs/boundary-policy.json', import.meta.url);
  if (!existsSync(file)) return undefined;
  const policy = JSON.parse(readFileSync(file, 'utf8')) as PolicyDocument;
  const bucket = /arn:aws:s3:::([^/"*]+)/.exec(JSON.stringify(policy))?.[1];
  if (bucket === undefined) throw new Error('docs/boundary-policy.json names no S3 bucket');
  return { policy, bucket };
}

const objectCalls = (key: string, operations: S3Operation[]): S3Call[] =>
  operations.map((operation) => ({ operation, bucket: BUCKET, key }));
const list = (prefix?: string, delimiter?: string): S3Call => ({
  operation: 'ListObjectsV2',
  bucket: BUCKET,
  ...(prefix === undefined ? {} : { prefix }),
  ...(delimiter === undefined ? {} : { delimiter }),
});
const WRITES: S3Operation[] = ['PutObject', 'DeleteObject', ...MULTIPART_UPLOAD];
const READS: S3Operation[] = ['GetObject'];

async function expectDecisions(
  t: Test,
  policy: PolicyDocument,
  calls: S3Call[],
  expected: 'Allowed' | 'denied',
) {
  for (const call of calls) {
    const decision = await decide(policy, call);
    if (expected === 'Allowed') t.equal(decision, 'Allowed', describeCall(call));
    else t.not(decision, 'Allowed', `${describeCall(call)} is denied`);
  }
}

t.test(
  'without a scope the readwrite and readonly documents are what they always were',
  async (t) => {
    const buckets = ['arn:aws:s3:::kf-artifacts', 'arn:aws:s3:::kf-artifacts/*'];
    t.same(policyFor({ s3Access: 'readonly' }), {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
          Resource: buckets,
        },
      ],
    });
    const readwrite = policyFor({ s3Access: 'readwrite' });
    t.equal(readwrite.Statement.length, 1);
    t.same(readwrite.Statement[0]!.Resource, buckets);
    t.notOk(
      (readwrite.Statement[0]!.Action as string[]).some((a) => a.includes('*')),
      'no wildcard action',
    );
    t.same(
      s3Policy(testRoleSettings({ s3Buckets: ['kf-artifacts', 'shared-data'] }), 'team-a')
        .Statement[0]!.Resource,
      [...buckets, 'arn:aws:s3:::shared-data', 'arn:aws:s3:::shared-data/*'],
    );
    await expectDecisions(
      t,
      readwrite,
      [
        ...objectCalls('private-artifacts/team-b/x', [...READS, ...WRITES]),
        list(),
        list('private-artifacts/team-b/'),
      ],
      'Allowed',
    );
    await expectDecisions(t, readwrite, bucketWrites(), 'denied');
  },
);

function bucketWrites(bucket = BUCKET): S3Call[] {
  return BUCKET_WRITES.map((operation) => ({ operation, bucket }));
}

t.test('full without a scope: s3:* on objects, bucket reads only, unless allowed', async (t) => {
  const full = policyFor({ s3Access: 'full' });
  await expectDecisions(
    t,
    full,
    [
      ...objectCalls('any/key', [...READS, ...WRITES]),
      { operation: 'ListMultipartUploads', bucket: BUCKET },
      list(),
      { operation: 'GetBucketLocation', bucket: BUCKET },
    ],
    'Allowed',
  );
  await expectDecisions(t, full, bucketWrites(), 'denied');

  const open = policyFor({ s3Access: 'full', s3AllowBucketWrites: true });
  t.same(open.Statement, [
    {
      Effect: 'Allow',
      Action: ['s3:*'],
      Resource: ['arn:aws:s3:::kf-artifacts', 'arn:aws:s3:::kf-artifacts/*'],
    },
  ]);
  await expectDecisions(t, open, bucketWrites(), 'Allowed');
  t.same(
    policyFor({ s3Access: 'readwrite', s3AllowBucketWrites: true }),
    policyFor({ s3Access: 'readwrite' }),
    'the flag means nothing below full',
  );
});

/** Scopes under test: the preset, {namespace} not last, and the preset with a shared prefix. */
const SCOPES: { name: string; scope: S3Scope; own: string; other: string[] }[] = [
  {
    name: 'kfp',
    scope: scope(KFP),
    own: 'private-artifacts/team-a/v2/artifacts/run-1/',
    other: [
      'private-artifacts/team-b/v2/artifacts/run-1/',
      'private-artifacts/team-a-x/v2/artifacts/run-1/',
      'private/team-a-x/',
      'private/team-b/',
    ],
  },
  {
    name: 'tenants/{namespace}/data/',
    scope: scope(['tenants/{namespace}/data/']),
    own: 'tenants/team-a/data/run-1/',
    other: ['tenants/team-b/data/run-1/', 'tenants/team-a-x/data/', 'tenants/team-a/other/'],
  },
  {
    name: 'kfp + shared/',
    scope: scope(KFP, { sharedPrefixes: ['shared/'] }),
    own: 'private/team-a/notebooks/',
    other: ['private-artifacts/team-b/', 'private-artifacts/team-a-x/'],
  },
];

for (const level of LEVELS) {
  for (const { name, scope: s3Scope, own, other } of SCOPES) {
    t.test(`${level} within ${name}`, async (t) => {
      const policy = policyFor({ s3Access: level, s3Scope });
      const key = `${own}output.tgz`;
      await expectDecisions(
        t,
        policy,
        [
          ...objectCalls(key, READS),
          list(own),
          ...namespacePrefixes(s3Scope, 'team-a').map((prefix) => list(prefix)),
          list(own, '/'),
          { operation: 'GetBucketLocation', bucket: BUCKET },
        ],
        'Allowed',
      );
      await expectDecisions(
        t,
        policy,
        objectCalls(key, WRITES),
        level === 'readonly' ? 'denied' : 'Allowed',
      );

      const elsewhere = other.flatMap((prefix) => [
        ...objectCalls(`${prefix}output.tgz`, [...READS, ...WRITES]),
        list(prefix),
        list(prefix, '/'),
      ]);
      const folder = namespacePrefixes(s3Scope, 'team-a')[0]!;
      await expectDecisions(
        t,
        policy,
        [
          ...elsewhere,
          ...objectCalls('output.tgz', [...READS, ...WRITES]),
          // The namespace's folder without its slash would also list team-a-x's keys.
          list(folder.slice(0, -1)),
          list(folder.slice(0, -1), '/'),
          ...objectCalls(folder.slice(0, -1), READS),
          list(),
          list(''),
          list('', '/'),
          // A parent folder may be browsed one level deep, never listed recursively.
          list(folder.slice(0, folder.indexOf('/') + 1)),
          { operation: 'ListMultipartUploads', bucket: BUCKET },
          ...bucketWrites(),
        ],
        'denied',
      );
      await expectDecisions(
        t,
        policy,
        [list(folder.slice(0, folder.indexOf('/') + 1), '/')],
        'Allowed',
      );

      // Every call the scoped policy allows, the boundary allows too.
      const shipped = shippedBoundary();
      if (shipped === undefined)
        t.comment('docs/boundary-policy.json not present: derived boundary only');
      const allowed = [
        ...objectCalls(key, level === 'readonly' ? READS : [...READS, ...WRITES]),
        list(own),
        list(folder.slice(0, folder.indexOf('/') + 1), '/'),
        { operation: 'GetBucketLocation', bucket: BUCKET } as S3Call,
      ];
      for (const [label, boundary, bucket] of [
        ['derived boundary', derivedBoundary(BUCKET), BUCKET],
        ...(shipped
          ? [['docs/boundary-policy.json', shipped.policy, shipped.bucket] as const]
          : []),
      ] as const) {
        const inBucket = s3Policy(
          testRoleSettings({ s3Access: level, s3Scope, s3Buckets: [bucket] }),
          'team-a',
        );
        for (const call of allowed) {
          t.equal(
            await decide(inBucket, { ...call, bucket }, boundary),
            'Allowed',
            `${describeCall(call)} within the ${label}`,
          );
        }
      }
    });
  }
}

t.test('shared prefixes: read-only by default, their own level when set', async (t) => {
  for (const sharedAccess of LEVELS) {
    const policy = policyFor({
      s3Access: 'readwrite',
      s3Scope: scope(KFP, { sharedPrefixes: ['shared/'], sharedAccess }),
    });
    await expectDecisions(
      t,
      policy,
      [...objectCalls('shared/data.csv', READS), list('shared/')],
      'Allowed',
    );
    await expectDecisions(
      t,
      policy,
      objectCalls('shared/data.csv', WRITES),
      sharedAccess === 'readonly' ? 'denied' : 'Allowed',
    );
    await expectDecisions(t, policy, [list('shared'), ...bucketWrites()], 'denied');
  }
});

t.test('the scope covers every configured bucket', async (t) => {
  const policy = policyFor({ s3Scope: scope(KFP), s3Buckets: [BUCKET, 'datasets'] });
  const own = { operation: 'PutObject', bucket: 'datasets', key: 'private/team-a/x' } as const;
  t.equal(await decide(policy, own), 'Allowed');
  t.not(await decide(policy, { ...own, key: 'private/team-b/x' }), 'Allowed');
  t.not(await decide(policy, { operation: 'ListObjectsV2', bucket: 'datasets' }), 'Allowed');
});

t.test('the scoped document, as plan shows it', async (t) => {
  const role = testRoleSettings({ s3Scope: scope(KFP, { sharedPrefixes: ['shared/'] }) });
  const planned = plan({ metadata: { name: 'team-a' } }, role, testPolicySettings());
  t.same(planned.s3Scope, {
    access: 'readwrite',
    buckets: [BUCKET],
    prefixes: ['private-artifacts/team-a/', 'private/team-a/'],
    sharedPrefixes: ['shared/'],
    sharedAccess: 'readonly',
  });
  t.same(planned.s3Policy.document, s3Policy(role, 'team-a'));
  t.same(planned.s3Policy.document.Statement, [
    {
      Sid: 'NamespaceObjects',
      Effect: 'Allow',
      Action: [
        's3:GetObject',
        's3:PutObject',
        's3:DeleteObject',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
      ],
      Resource: [
        'arn:aws:s3:::kf-artifacts/private-artifacts/team-a/*',
        'arn:aws:s3:::kf-artifacts/private/team-a/*',
      ],
    },
    {
      Sid: 'ListNamespacePrefixes',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ['arn:aws:s3:::kf-artifacts'],
      Condition: {
        StringLike: { 's3:prefix': ['private-artifacts/team-a/*', 'private/team-a/*'] },
      },
    },
    {
      Sid: 'SharedObjects',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: ['arn:aws:s3:::kf-artifacts/shared/*'],
    },
    {
      Sid: 'ListSharedPrefixes',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ['arn:aws:s3:::kf-artifacts'],
      Condition: { StringLike: { 's3:prefix': ['shared/*'] } },
    },
    {
      Sid: 'ListParentFolders',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: ['arn:aws:s3:::kf-artifacts'],
      Condition: {
        StringEquals: { 's3:prefix': ['private-artifacts/', 'private/'], 's3:delimiter': '/' },
      },
    },
    {
      Sid: 'BucketLocation',
      Effect: 'Allow',
      Action: ['s3:GetBucketLocation'],
      Resource: ['arn:aws:s3:::kf-artifacts'],
    },
  ]);
  t.equal(
    plan({ metadata: { name: 'team-a' } }, testRoleSettings(), testPolicySettings()).s3Scope,
    null,
  );
});

t.test('a change of scope is inline-policy drift, like any other', async (t) => {
  const before = deriveRoleSpec(testRoleSettings(), 'team-a');
  const after = deriveRoleSpec(testRoleSettings({ s3Scope: scope(KFP) }), 'team-a');
  const observed = {
    trustPolicy: encodeURIComponent(JSON.stringify(before.trustPolicy)),
    inlinePolicy: encodeURIComponent(JSON.stringify(before.s3Policy.document)),
    permissionsBoundaryArn: undefined,
    maxSessionDuration: undefined,
    tags: before.tags,
  };
  t.same(roleDrift(before, observed), []);
  t.same(roleDrift(after, observed), [{ kind: 'inline-policy', missing: false }]);
  const scopedBack = {
    ...observed,
    inlinePolicy: encodeURIComponent(JSON.stringify(after.s3Policy.document)),
  };
  t.same(roleDrift(after, scopedBack), []);
  t.same(roleDrift(before, scopedBack), [{ kind: 'inline-policy', missing: false }], 'and back');
  const wider = deriveRoleSpec(
    testRoleSettings({ s3Scope: scope(KFP, { sharedPrefixes: ['shared/'] }) }),
    'team-a',
  );
  t.same(
    roleDrift(wider, scopedBack),
    [{ kind: 'inline-policy', missing: false }],
    'new shared prefix',
  );
});

t.test('configuration: presets, lists and the documented defaults', async (t) => {
  const configured = (env: Record<string, string>) => {
    const result = loadConfig({}, { ...REQUIRED_ENV, ...env });
    if (!result.ok) throw new Error(result.problems.join('; '));
    return roleSettings(result.config, ACCOUNT_ID, ISSUER);
  };
  const plain = configured({});
  t.equal(plain.s3Scope, undefined, 'the whole bucket by default');
  t.equal(plain.s3AllowBucketWrites, false);
  t.same(configured({ S3_PREFIXES: 'kfp' }).s3Scope, scope(KFP));
  t.same(
    configured({
      S3_PREFIXES: 'kfp, team-data/{namespace}/',
      S3_SHARED_PREFIXES: 'shared/,shared/',
    }).s3Scope,
    scope([...KFP, 'team-data/{namespace}/'], { sharedPrefixes: ['shared/'] }),
    'a preset expands in place; duplicates dropped',
  );
  t.equal(
    configured({ S3_PREFIXES: 'kfp', S3_SHARED_PREFIXES: 'shared/', S3_SHARED_ACCESS: 'readwrite' })
      .s3Scope?.sharedAccess,
    'readwrite',
  );
  t.equal(
    configured({ S3_ACCESS: 'full', S3_ALLOW_BUCKET_WRITES: 'true' }).s3AllowBucketWrites,
    true,
  );
  t.same(expandS3PrefixPresets(['kfp', 'kfp']), KFP);

  const problems = (env: Record<string, string>) => {
    const result = loadConfig({}, { ...REQUIRED_ENV, ...env });
    return result.ok ? [] : result.problems;
  };
  const refusals: [string, Record<string, string>, RegExp][] = [
    ['no {namespace}', { S3_PREFIXES: 'artifacts/' }, /--s3-prefixes.*must contain \{namespace\}/],
    ['a wildcard', { S3_PREFIXES: 'private-artifacts/{namespace}/*/' }, /wildcards/],
    ['a ? wildcard', { S3_PREFIXES: 'p?/{namespace}/' }, /wildcards/],
    ['no trailing /', { S3_PREFIXES: 'private-artifacts/{namespace}/v2' }, /must end with \//],
    [
      '{namespace} not followed by /',
      { S3_PREFIXES: 'team-{namespace}-data/' },
      /right after \{namespace\}/,
    ],
    ['{namespace} twice', { S3_PREFIXES: '{namespace}/{namespace}/' }, /once/],
    ['a policy variable', { S3_PREFIXES: '${aws:username}/{namespace}/' }, /policy variable/],
    ['a leading /', { S3_PREFIXES: '/p/{namespace}/' }, /leading/],
    ['an empty folder', { S3_PREFIXES: 'p//{namespace}/' }, /empty/],
    ['a .. folder', { S3_PREFIXES: 'p/../{namespace}/' }, /\.\./],
    ['another placeholder', { S3_PREFIXES: '{cluster}/{namespace}/' }, /placeholder other than/],
    [
      'one head starting another',
      { S3_PREFIXES: 'a/{namespace}/,a/x-{namespace}/' },
      /"a\/\{namespace\}\/" and "a\/x-\{namespace\}\/" overlap/,
    ],
    [
      'a folder under the other',
      { S3_PREFIXES: 'p/{namespace}/,p/shared/{namespace}/' },
      /overlap/,
    ],
    ['an empty head', { S3_PREFIXES: '{namespace}/,x/{namespace}/' }, /overlap/],
    [
      'a shared prefix holding every namespace',
      { S3_PREFIXES: 'kfp', S3_SHARED_PREFIXES: 'private-artifacts/' },
      /--s3-shared-prefixes.*every namespace the others'/,
    ],
    [
      "a shared prefix that is some namespace's",
      { S3_PREFIXES: 'kfp', S3_SHARED_PREFIXES: 'private/shared/' },
      /some namespace's own prefix/,
    ],
    ['a shared wildcard', { S3_PREFIXES: 'kfp', S3_SHARED_PREFIXES: 'shared/*' }, /wildcards/],
    [
      'a shared {namespace}',
      { S3_PREFIXES: 'kfp', S3_SHARED_PREFIXES: 'x/{namespace}/' },
      /cannot contain/,
    ],
    ['shared without a scope', { S3_SHARED_PREFIXES: 'shared/' }, /needs --s3-prefixes/],
    ['a bad shared level', { S3_PREFIXES: 'kfp', S3_SHARED_ACCESS: 'admin' }, /--s3-shared-access/],
    [
      'bucket writes with a scope',
      { S3_ACCESS: 'full', S3_PREFIXES: 'kfp', S3_ALLOW_BUCKET_WRITES: 'true' },
      /--s3-allow-bucket-writes.*cannot be used with --s3-prefixes/,
    ],
    [
      'bucket writes below full',
      { S3_ALLOW_BUCKET_WRITES: 'true' },
      /--s3-allow-bucket-writes.*only applies to --s3-access full/,
    ],
  ];
  refusals.push([
    "a policy over IAM's size limit",
    {
      S3_PREFIXES: Array.from({ length: 40 }, (_, i) => `t${i}/{namespace}/`).join(','),
      EXTRA_S3_BUCKETS: 'b1-bucket,b2-bucket,b3-bucket,b4-bucket',
    },
    /--s3-prefixes.*S3 policy is \d+ characters; IAM allows 10240/,
  ]);
  for (const [name, env, message] of refusals) {
    const found = problems(env);
    t.ok(
      found.some((p) => message.test(p)),
      `${name} is refused: ${found.join('; ') || 'accepted'}`,
    );
  }
  for (const accepted of [
    'kfp',
    '{namespace}/artifacts/',
    'a/{namespace}/,b/{namespace}/',
    'p/{namespace}/x/,p/{namespace}/y/',
    'kfp,team-data/{namespace}/',
    "ns-{namespace}/(a)_b.c!'/",
  ]) {
    t.same(problems({ S3_PREFIXES: accepted }), [], `${accepted} is accepted`);
  }
});

t.test('accepted templates never let one namespace reach into another', async (t) => {
  // Pieces that can build every shape the rule distinguishes: equal heads, one head starting
  // another, {namespace} mid-path, and names that start one another (a, a-b, x-a).
  const piece = fc.constantFrom('a', 'b', 'x-', '-', 'a/', 'b/', 'x/', 'x-a/', '/');
  const template = fc
    .tuple(fc.array(piece, { maxLength: 3 }), fc.array(piece, { maxLength: 2 }))
    .map(([headParts, tailParts]) => `${headParts.join('')}{namespace}/${tailParts.join('')}`);
  const namespace = fc.constantFrom('a', 'b', 'a-b', 'x-a', 'x-b', 'x', 'b-a', 'aa');
  let checked = 0;
  fc.assert(
    fc.property(
      fc.uniqueArray(template, { minLength: 1, maxLength: 3 }),
      namespace,
      namespace,
      (templates, a, b) => {
        fc.pre(a !== b);
        const problems = s3ScopeProblems({ prefixTemplates: templates, sharedPrefixes: [] });
        fc.pre(problems.prefixTemplates.length === 0);
        checked++;
        const scoped = scope(templates);
        for (const mine of namespacePrefixes(scoped, a)) {
          for (const theirs of namespacePrefixes(scoped, b)) {
            if (theirs.startsWith(mine) || mine.startsWith(theirs)) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 2000 },
  );
  t.ok(checked > 200, `${checked} accepted template sets checked`);
});

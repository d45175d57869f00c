import fc from 'fast-check';
import { DEFAULT_RESERVED_NAMESPACES } from '../../src/core/namespace.js';
import { roleNameFor } from '../../src/core/role-name.js';
import { nestedJson } from '../helpers/deep.js';
import { ACCOUNT_ID } from '../helpers/settings.js';

/*
 * Generators of AdmissionReview bodies as JSON text. Objects are built as entry lists, not as
 * JavaScript objects, so keys such as `__proto__` and duplicate keys reach the webhook as they
 * would on the wire; deep values are written as text (JSON.stringify would recurse).
 */

type Json =
  | null
  | boolean
  | number
  | string
  | { array: Json[] }
  | { entries: [string, Json][] }
  | { text: string };

const obj = (...entries: [string, Json][]): Json => ({ entries });
const arr = (...items: Json[]): Json => ({ array: items });

/** The JSON text of a generated value. */
function toText(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if ('text' in value) return value.text;
  if ('array' in value) return `[${value.array.map(toText).join(',')}]`;
  return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${toText(v)}`).join(',')}}`;
}

export const PLUGIN = 'AwsIamForServiceAccount';
export const ALLOWED_PATTERN = `arn:aws:iam::${ACCOUNT_ID}:role/legacy/*`;
/** The Profile's own role; naming (shortening included) has its own property tests. */
export const derivedArnOf = (namespace: string) =>
  `arn:aws:iam::${ACCOUNT_ID}:role/kubeflow-profiles/${roleNameFor('{namespace}-{cluster}-role', namespace, 'prod', 'us-east-1')}`;

/** Keys that are near the real ones: case, Unicode folding (Kelvin sign, long s), lookalikes. */
const NEAR_KEYS = [
  'awsIamRoIe',
  'ａwsIamRole',
  'AwsIamRole',
  'AWSIAMROLE',
  'awſIamRole',
  'awsIamRole ',
  'awsiamrole',
  'annotateonly',
  'ANNOTATEONLY',
  'annotateOnIy',
  'annotateOnly\u0000',
  'ANNOTATEONLY'.replace('N', 'Ｎ'),
  '\u212Aind',
  'Kind',
  'ſpec',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
];

const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

/** Arbitrary JSON, with suspicious keys among the random ones. */
const anyJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }).map((items) => arr(...items)),
    fc
      .array(fc.tuple(fc.oneof(fc.string(), fc.constantFrom(...NEAR_KEYS)), tie('value')), {
        maxLength: 4,
      })
      .map((entries) => ({ entries })),
  ),
})).value;

/** Now and then something deep or huge, as another plugin's spec may be. */
const heavy: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: 1, max: 300 }).map((depth) => ({ text: nestedJson(depth) })),
  fc.constant({ text: nestedJson(9_990) }),
  fc.constant({ text: `[${'['.repeat(5000)}${']'.repeat(5000)}]` }),
  fc.integer({ min: 1, max: 600_000 }).map((n) => 'x'.repeat(n)),
);

const namespaceArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('team-a', 'team-b', 'x', 'n'.repeat(63)) },
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/) },
  { weight: 1, arbitrary: fc.constantFrom(...DEFAULT_RESERVED_NAMESPACES) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'Team-A',
      '-x',
      'a'.repeat(64),
      'ａ',
      'team_a',
      '',
      'tеam-a',
      'a\u0000',
    ),
  },
  { weight: 1, arbitrary: fc.string() },
);

/** Role ARNs with tricks: other accounts and partitions, `..`, deeper paths, lookalikes, types. */
/**
 * The namespace and its derived ARN are not known while the body is generated (building the
 * generators once per namespace would cost more than the requests): they are written as tokens,
 * replaced in the text once the namespace is drawn.
 */
const NS = '\u27e6ns\u27e7';
const ARN_VARIANTS: Record<string, (arn: string) => string> = {
  arn: (arn) => arn,
  'arn-dotdot': (arn) => `${arn}/../OrgAdmin`,
  'arn-space-after': (arn) => `${arn} `,
  'arn-space-before': (arn) => ` ${arn}`,
  'arn-upper': (arn) => arn.toUpperCase(),
  'arn-account': (arn) => arn.replace(ACCOUNT_ID, '999999999999'),
  'arn-partition': (arn) => arn.replace('arn:aws:', 'arn:aws-cn:'),
  'arn-double-slash': (arn) => arn.replace('role/', 'role//'),
  'arn-lookalike': (arn) => arn.replace('-prod-', '-\uff50rod-'),
};
/** Rare on purpose: writing it costs more than the request. */
const HUGE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/legacy/${'a'.repeat(100_000)}`;
const token = (name: string) => `\u27e6${name}\u27e7`;

/** Replaces the tokens in generated JSON text with the namespace's values (JSON-escaped). */
function substitute(text: string, namespace: string): string {
  const escape = (value: string) => JSON.stringify(value).slice(1, -1);
  const arn = derivedArnOf(namespace);
  // Replacer functions, not strings: a drawn namespace may hold `$'` or `$&`, which a replacement
  // string would expand.
  let out = text.replaceAll(NS, () => escape(namespace));
  for (const [name, variant] of Object.entries(ARN_VARIANTS)) {
    out = out.replaceAll(token(name), () => escape(variant(arn)));
  }
  return out;
}

/** Role ARNs with tricks: other accounts and partitions, `..`, deeper paths, lookalikes, types. */
const roleArnArb: fc.Arbitrary<Json> = (() => {
  const base = `arn:aws:iam::${ACCOUNT_ID}:role`;
  return fc.oneof(
    { weight: 24, arbitrary: fc.constant(token('arn')) },
    { weight: 8, arbitrary: fc.constantFrom(...Object.keys(ARN_VARIANTS).map(token)) },
    {
      weight: 12,
      arbitrary: fc.constantFrom(
        `${base}/legacy/team-a`,
        `${base}/legacy/x/../OrgAdmin`,
        `${base}/legacy/any/OrgAdmin`,
        `${base}/legacy/..`,
        `${base}/legacy/`,
        `${base}/legacy/Org Admin`,
        `${base}/legacy//OrgAdmin`,
        `${base}/OrgAdmin`,
        `${base}/kubeflow-profiles/other-prod-role`,
        `${base}/legacy/OrgAdmin\u0000`,
        `${base}/legacy/Org\u202EAdmin`,
        'arn:aws:iam::*:role/*',
        '*',
        '',
      ),
    },
    {
      weight: 4,
      arbitrary: fc.stringMatching(/^arn:aws:iam::\d{12}:role(\/[\w+=,.@-]{1,8}){1,4}$/),
    },
    { weight: 1, arbitrary: fc.constant(HUGE_ARN) },
    { weight: 4, arbitrary: scalar },
    { weight: 4, arbitrary: anyJson },
  );
})();

const annotateOnlyArb: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(true) },
  { weight: 1, arbitrary: fc.constantFrom(false, 'true', 1, null, 'True') },
  { weight: 1, arbitrary: scalar },
);

const pluginSpecArb: fc.Arbitrary<Json> = (() => {
  const key = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('awsIamRole', 'annotateOnly') },
    { weight: 2, arbitrary: fc.constantFrom(...NEAR_KEYS) },
    { weight: 1, arbitrary: fc.string() },
  );
  const entry = key.chain((k) =>
    (/annotate/i.test(k) ? annotateOnlyArb : roleArnArb).map((v): [string, Json] => [k, v]),
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(roleArnArb, fc.option(annotateOnlyArb, { nil: undefined }))
        .map(([role, only]) =>
          only === undefined
            ? obj(['awsIamRole', role])
            : obj(['awsIamRole', role], ['annotateOnly', only]),
        ),
    },
    { weight: 3, arbitrary: fc.array(entry, { maxLength: 4 }).map((entries) => ({ entries })) },
    { weight: 1, arbitrary: anyJson },
  );
})();

const kindArb: fc.Arbitrary<Json> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(PLUGIN) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'awsIamForServiceAccount',
      'AWSIAMFORSERVICEACCOUNT',
      `${PLUGIN} `,
      'AwſIamForServiceAccount',
      'ＡwsIamForServiceAccount',
      'WorkloadIdentity',
      'Other',
    ),
  },
  { weight: 1, arbitrary: scalar },
);

const pluginEntryArb: fc.Arbitrary<Json> = (() => {
  return fc.oneof(
    {
      weight: 40,
      arbitrary: fc
        .tuple(kindArb, pluginSpecArb, fc.boolean())
        .map(([kind, spec, withVersion]) =>
          withVersion
            ? obj(['apiVersion', 'kubeflow.org/v1alpha1'], ['kind', kind], ['spec', spec])
            : obj(['kind', kind], ['spec', spec]),
        ),
    },
    {
      weight: 1,
      arbitrary: heavy.map((deep) =>
        obj(['kind', 'SomeOtherPlugin'], ['spec', obj(['deep', deep])]),
      ),
    },
    { weight: 1, arbitrary: anyJson },
  );
})();

const pluginsArb: fc.Arbitrary<Json> = (() => {
  const entry = pluginEntryArb;
  // The plugin as it should be, but for the role it names, among other plugins.
  const ours = roleArnArb.map((role) =>
    obj(['kind', PLUGIN], ['spec', obj(['awsIamRole', role], ['annotateOnly', true])]),
  );
  return fc.oneof(
    { weight: 6, arbitrary: fc.array(entry, { maxLength: 4 }).map((items) => arr(...items)) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(ours, fc.array(entry, { maxLength: 2 }), fc.boolean())
        .map(([mine, others, first]) => arr(...(first ? [mine, ...others] : [...others, mine]))),
    },
    // The same plugin twice, as a copy-paste would leave it.
    { weight: 1, arbitrary: entry.map((e) => arr(e, e)) },
    { weight: 1, arbitrary: anyJson },
  );
})();

/** A Profile (mostly well formed, with something off now and then) named by the namespace token. */
const profileArb: fc.Arbitrary<Json> = (() => {
  const namespace = NS;
  const name: fc.Arbitrary<[string, Json][]> = fc.oneof(
    { weight: 8, arbitrary: fc.constant([['name', namespace]] as [string, Json][]) },
    { weight: 1, arbitrary: fc.constant([['generateName', `${namespace}-`]] as [string, Json][]) },
    { weight: 1, arbitrary: scalar.map((v) => [['name', v]] as [string, Json][]) },
    { weight: 1, arbitrary: fc.constant([] as [string, Json][]) },
  );
  const spec = fc
    .record(
      {
        owner: fc.constant(obj(['kind', 'User'], ['name', `${namespace}@example.com`])),
        plugins: pluginsArb,
        resourceQuotaSpec: fc.constant(obj()),
        junk: fc.tuple(fc.constantFrom(...NEAR_KEYS, 'plugins '), anyJson),
      },
      { requiredKeys: ['owner', 'plugins'] },
    )
    .map(({ junk, ...fields }) => {
      const entries = Object.entries(fields) as [string, Json][];
      return { entries: junk ? [...entries, junk] : entries };
    });
  return fc.oneof(
    {
      weight: 9,
      arbitrary: fc
        .tuple(name, fc.option(spec, { nil: undefined }), fc.option(anyJson, { nil: undefined }))
        .map(([meta, s, extra]) => {
          const entries: [string, Json][] = [
            ['apiVersion', 'kubeflow.org/v1'],
            ['kind', 'Profile'],
            ['metadata', { entries: meta }],
          ];
          if (s !== undefined) entries.push(['spec', s]);
          if (extra !== undefined) entries.push(['__proto__', extra]);
          return { entries };
        }),
    },
    { weight: 1, arbitrary: anyJson },
  );
})();

export interface GeneratedReview {
  text: string;
  operation: string;
}

const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

/** The body of a review, with the namespace (and the ARNs derived from it) as tokens. */
const bodyArb: fc.Arbitrary<GeneratedReview> = (() => {
  const namespace = NS;
  const profile = profileArb;
  const envelope = fc.record({
    uid: fc.oneof({ weight: 39, arbitrary: fc.uuid() }, { weight: 1, arbitrary: scalar }),
    kind: fc.oneof(
      {
        weight: 38,
        arbitrary: fc.constant(
          obj(['group', 'kubeflow.org'], ['version', 'v1'], ['kind', 'Profile']),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.constant(obj(['group', ''], ['version', 'v1'], ['kind', 'Namespace'])),
      },
      { weight: 1, arbitrary: anyJson },
    ),
    resource: fc.oneof(
      {
        weight: 39,
        arbitrary: fc.constant(
          obj(['group', 'kubeflow.org'], ['version', 'v1'], ['resource', 'profiles']),
        ),
      },
      { weight: 1, arbitrary: anyJson },
    ),
    operation: fc.oneof(
      { weight: 30, arbitrary: fc.constantFrom('CREATE', 'UPDATE') },
      { weight: 9, arbitrary: fc.constantFrom(...OPERATIONS) },
      { weight: 1, arbitrary: scalar },
    ),
    object: profile,
    oldObject: fc.oneof(
      { weight: 4, arbitrary: profile },
      { weight: 1, arbitrary: fc.constant(null) },
    ),
    dryRun: fc.oneof({ weight: 39, arbitrary: fc.boolean() }, { weight: 1, arbitrary: scalar }),
    sameOld: fc.boolean(),
  });
  // Now and then one of the fields every request has goes missing.
  const damage = fc.oneof(
    { weight: 14, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('uid', 'kind', 'resource', 'operation', 'object') },
  );
  return fc.oneof(
    {
      weight: 19,
      arbitrary: fc
        .tuple(envelope, damage)
        .map(([{ sameOld, object, oldObject, ...fields }, drop]) => {
          const old = fields.operation === 'UPDATE' && sameOld ? object : oldObject;
          const request: [string, Json][] = [
            ...(Object.entries(fields) as [string, Json][]),
            ['name', namespace],
            ['object', object],
            ['oldObject', old],
          ].filter(([key]) => key !== drop) as [string, Json][];
          const review = obj(
            ['apiVersion', 'admission.k8s.io/v1'],
            ['kind', 'AdmissionReview'],
            ['request', { entries: request }],
          );
          return {
            text: toText(review),
            operation: typeof fields.operation === 'string' ? fields.operation : '',
          };
        }),
    },
    { weight: 1, arbitrary: anyJson.map((value) => ({ text: toText(value), operation: '' })) },
  );
})();

/** An AdmissionReview, mostly what the API server sends, sometimes malformed, sometimes not one. */
export const reviewArb: fc.Arbitrary<GeneratedReview> = fc
  .tuple(namespaceArb, bodyArb)
  .map(([namespace, body]) => ({ ...body, text: substitute(body.text, namespace) }));

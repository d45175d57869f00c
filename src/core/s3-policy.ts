import type { PolicyDocument, PolicyStatement } from './policy-document.js';
import { partitionForRegion, type RoleSettings, type S3Access, type S3Scope } from './settings.js';

const NAMESPACE_PLACEHOLDER = '{namespace}';
/** The longest namespace (a DNS label) and S3's longest key, in bytes. */
const LONGEST_NAMESPACE = 'n'.repeat(63);
const MAX_KEY_BYTES = 1024;

/**
 * Named prefix sets. `kfp`: the layout KFP ≥ 2.15's pipelines profile controller gives each
 * namespace (`defaultPipelineRoot: minio://BUCKET/private-artifacts/NS/v2/artifacts`, Argo's log
 * archive under `private-artifacts/NS/`), and `private/NS/` for the user's own files.
 */
export const S3_PREFIX_PRESETS: Readonly<Record<string, readonly string[]>> = {
  kfp: ['private-artifacts/{namespace}/', 'private/{namespace}/'],
};

/** Whole-bucket access, unchanged from before scopes existed so upgrades rewrite no policy. */
const BUCKET_WIDE_ACTIONS: Record<Exclude<S3Access, 'full'>, string[]> = {
  readwrite: [
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    's3:ListBucket',
    's3:GetBucketLocation',
    's3:AbortMultipartUpload',
    's3:ListMultipartUploadParts',
    's3:ListBucketMultipartUploads',
  ],
  readonly: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation'],
};

/** What `full` may do on the bucket itself when bucket-level writes are not allowed: read only. */
const FULL_BUCKET_READS = [
  's3:ListBucket',
  's3:ListBucketVersions',
  's3:ListBucketMultipartUploads',
  's3:GetBucketLocation',
];

/** Object-level actions under a prefix. Multipart parts are s3:PutObject; ListParts is its own. */
const PREFIX_OBJECT_ACTIONS: Record<S3Access, string[]> = {
  full: ['s3:*'],
  readwrite: [
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    's3:AbortMultipartUpload',
    's3:ListMultipartUploadParts',
  ],
  readonly: ['s3:GetObject'],
};

/**
 * Listings under a prefix. Both actions take an s3:prefix condition. ListBucketMultipartUploads
 * takes none, so it would show every namespace's keys: it is never granted within a scope.
 */
const PREFIX_LIST_ACTIONS: Record<S3Access, string[]> = {
  full: ['s3:ListBucket', 's3:ListBucketVersions'],
  readwrite: ['s3:ListBucket'],
  readonly: ['s3:ListBucket'],
};

export function s3PolicyName(namespace: string): string {
  return `kf-${namespace}-pipeline-s3`;
}

/** Each preset name in the list is replaced by its templates; duplicates are dropped. */
export function expandS3PrefixPresets(items: readonly string[]): string[] {
  return [...new Set(items.flatMap((item) => S3_PREFIX_PRESETS[item] ?? [item]))];
}

/** The namespace's own key prefixes, in template order. */
export function namespacePrefixes(scope: S3Scope, namespace: string): string[] {
  return [
    ...new Set(scope.prefixTemplates.map((t) => t.replace(NAMESPACE_PLACEHOLDER, namespace))),
  ];
}

/** What the S3 policy depends on. */
export type S3PolicySettings = Pick<
  RoleSettings,
  'region' | 's3Access' | 's3Buckets' | 's3Scope' | 's3AllowBucketWrites'
>;

/** IAM's limit on a role's inline policies together, in characters without whitespace. */
export const INLINE_POLICY_MAX_CHARS = 10_240;

export function s3Policy(settings: S3PolicySettings, namespace: string): PolicyDocument {
  const partition = partitionForRegion(settings.region);
  const buckets = settings.s3Buckets.map((bucket) => `arn:${partition}:s3:::${bucket}`);
  return {
    Version: '2012-10-17',
    Statement:
      settings.s3Scope === undefined
        ? wholeBucket(settings, buckets)
        : scoped(settings.s3Access, settings.s3Scope, namespace, buckets),
  };
}

function wholeBucket(settings: S3PolicySettings, buckets: string[]): PolicyStatement[] {
  const everything = buckets.flatMap((bucket) => [bucket, `${bucket}/*`]);
  if (settings.s3Access !== 'full') {
    return [
      { Effect: 'Allow', Action: BUCKET_WIDE_ACTIONS[settings.s3Access], Resource: everything },
    ];
  }
  if (settings.s3AllowBucketWrites === true) {
    return [{ Effect: 'Allow', Action: ['s3:*'], Resource: everything }];
  }
  // s3:* on object ARNs reaches only object-level actions; the bucket gets reads only, so no
  // tenant can rewrite the bucket policy, its ACL or public access block, or delete it.
  return [
    {
      Sid: 'Objects',
      Effect: 'Allow',
      Action: ['s3:*'],
      Resource: buckets.map((bucket) => `${bucket}/*`),
    },
    { Sid: 'BucketReads', Effect: 'Allow', Action: FULL_BUCKET_READS, Resource: buckets },
  ];
}

function scoped(
  access: S3Access,
  scope: S3Scope,
  namespace: string,
  buckets: string[],
): PolicyStatement[] {
  const objects = (prefixes: string[]) =>
    buckets.flatMap((bucket) => prefixes.map((prefix) => `${bucket}/${prefix}*`));
  const listing = (prefixes: string[]) => ({
    StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) },
  });
  const own = namespacePrefixes(scope, namespace);
  const shared = scope.sharedPrefixes;
  const parents = parentFolders([...own, ...shared]);
  const statements: PolicyStatement[] = [
    {
      Sid: 'NamespaceObjects',
      Effect: 'Allow',
      Action: PREFIX_OBJECT_ACTIONS[access],
      Resource: objects(own),
    },
    {
      Sid: 'ListNamespacePrefixes',
      Effect: 'Allow',
      Action: PREFIX_LIST_ACTIONS[access],
      Resource: buckets,
      Condition: listing(own),
    },
  ];
  if (shared.length > 0) {
    statements.push(
      {
        Sid: 'SharedObjects',
        Effect: 'Allow',
        Action: PREFIX_OBJECT_ACTIONS[scope.sharedAccess],
        Resource: objects(shared),
      },
      {
        Sid: 'ListSharedPrefixes',
        Effect: 'Allow',
        Action: PREFIX_LIST_ACTIONS[scope.sharedAccess],
        Resource: buckets,
        Condition: listing(shared),
      },
    );
  }
  if (parents.length > 0) {
    // A client browsing to its folder (`aws s3 ls s3://BUCKET/private-artifacts/`) lists each
    // parent folder one level deep. With the delimiter it sees only the names of the folders
    // there, never another namespace's keys; without it (a recursive listing) it is denied.
    statements.push({
      Sid: 'ListParentFolders',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: buckets,
      Condition: { StringEquals: { 's3:prefix': parents, 's3:delimiter': '/' } },
    });
  }
  statements.push({
    Sid: 'BucketLocation',
    Effect: 'Allow',
    Action: ['s3:GetBucketLocation'],
    Resource: buckets,
  });
  return statements;
}

/** Every `/`-terminated proper prefix of the prefixes (`a/b/c/` → `a/`, `a/b/`), sorted. */
function parentFolders(prefixes: string[]): string[] {
  const parents = new Set<string>();
  for (const prefix of prefixes) {
    for (let at = prefix.indexOf('/'); at >= 0 && at < prefix.length - 1;) {
      parents.add(prefix.slice(0, at + 1));
      at = prefix.indexOf('/', at + 1);
    }
  }
  return [...parents].sort();
}

/*
 * Prefix templates must give every namespace a prefix that no other namespace's prefix can contain
 * or fall inside, since `PREFIX*` grants all keys that start with it. A template is HEAD +
 * {namespace} + "/" + TAIL. Namespaces are DNS labels (no "/"), so within one template the "/"
 * right after the name ends it: `team/` never starts `team-a/`. Across two templates, equal heads
 * are safe for the same reason, and heads that differ before either ends are safe because the
 * prefixes differ there too. Only a head that starts the other is unsafe: with `a/{namespace}/`
 * and `a/x-{namespace}/`, `a/x-b/` is namespace `x-b`'s prefix and namespace `b`'s.
 */

/** Letters, digits and S3's other safe key characters; `$` would start an IAM policy variable. */
const KEY_CHARS = /^[A-Za-z0-9!_.'()/-]*$/;

/** The size IAM counts for the policy of the longest namespace, when it is over the limit. */
export function s3PolicyOversize(settings: S3PolicySettings): number | undefined {
  const size = JSON.stringify(s3Policy(settings, LONGEST_NAMESPACE)).length;
  return size > INLINE_POLICY_MAX_CHARS ? size : undefined;
}

/** What is wrong with a set of namespace prefix templates and shared prefixes; empty when fine. */
export function s3ScopeProblems(scope: Pick<S3Scope, 'prefixTemplates' | 'sharedPrefixes'>): {
  prefixTemplates: string[];
  sharedPrefixes: string[];
} {
  const templates = [...new Set(scope.prefixTemplates)];
  const problems: string[] = [];
  const valid: string[] = [];
  for (const template of templates) {
    const own = templateProblems(template);
    problems.push(...own.map((problem) => `"${template}" ${problem}`));
    if (own.length === 0) valid.push(template);
  }
  for (const [i, a] of valid.entries()) {
    for (const b of valid.slice(i + 1)) {
      const [headA, headB] = [head(a), head(b)];
      if (headA !== headB && (headA.startsWith(headB) || headB.startsWith(headA))) {
        const [shorter, longer] = headA.length < headB.length ? [a, b] : [b, a];
        problems.push(
          `"${shorter}" and "${longer}" overlap: the text before {namespace} in "${shorter}" ` +
            `starts the text before it in "${longer}", so one namespace's prefix can contain ` +
            `another's; put {namespace} after the same folders in both, or under different ones`,
        );
      }
    }
  }

  const sharedProblems: string[] = [];
  for (const prefix of new Set(scope.sharedPrefixes)) {
    const problems = prefix.includes(NAMESPACE_PLACEHOLDER)
      ? ['is shared by every namespace, so it cannot contain {namespace}']
      : keyPrefixProblems(prefix);
    sharedProblems.push(...problems.map((problem) => `"${prefix}" ${problem}`));
    if (problems.length > 0) continue;
    for (const template of valid) {
      const h = head(template);
      if (h.startsWith(prefix) || prefix.startsWith(h)) {
        sharedProblems.push(
          `"${prefix}" overlaps the namespace prefixes of "${template}": it would ` +
            (h.startsWith(prefix)
              ? "give every namespace the others' prefixes"
              : "be some namespace's own prefix") +
            '; use a folder outside them',
        );
      }
    }
  }
  return { prefixTemplates: problems, sharedPrefixes: sharedProblems };
}

function head(template: string): string {
  return template.slice(0, template.indexOf(NAMESPACE_PLACEHOLDER));
}

function templateProblems(template: string): string[] {
  const count = template.split(NAMESPACE_PLACEHOLDER).length - 1;
  if (count !== 1) {
    return [
      count === 0
        ? 'must contain {namespace}, or every namespace would share the prefix'
        : 'must contain {namespace} once',
    ];
  }
  const problems = keyPrefixProblems(template.replace(NAMESPACE_PLACEHOLDER, LONGEST_NAMESPACE));
  const after = template.slice(
    template.indexOf(NAMESPACE_PLACEHOLDER) + NAMESPACE_PLACEHOLDER.length,
  );
  if (!after.startsWith('/')) {
    problems.push(
      'must have / right after {namespace}, or one namespace\'s prefix contains another\'s ("team" starts "team-a")',
    );
  }
  return problems;
}

function keyPrefixProblems(prefix: string): string[] {
  if (prefix === '') return ['is empty'];
  if (/[*?]/.test(prefix))
    return ['must not contain wildcards (* or ?): IAM would match them against keys'];
  if (prefix.includes('$')) return ['must not contain $: IAM reads ${...} as a policy variable'];
  if (/[{}]/.test(prefix)) return ['has a placeholder other than {namespace}'];
  if (!KEY_CHARS.test(prefix)) {
    return ["may contain only letters, digits, / and !-_.'() besides {namespace}"];
  }
  const problems: string[] = [];
  if (!prefix.endsWith('/'))
    problems.push('must end with /, or it also matches keys of longer names');
  if (prefix.startsWith('/')) {
    problems.push('must not start with / (S3 keys have no leading /)');
  } else if (
    prefix
      .split('/')
      .slice(0, -1)
      .some((s) => s === '' || s === '.' || s === '..')
  ) {
    problems.push('must not have empty, . or .. folders (clients may rewrite such keys)');
  }
  // Only ASCII is allowed, so characters are bytes.
  if (prefix.length >= MAX_KEY_BYTES) problems.push('is too long for an S3 key');
  return problems;
}

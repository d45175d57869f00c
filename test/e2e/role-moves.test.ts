import t from 'tap';
import { request, type RequestOptions } from 'node:https';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { createObjects, plainProfile, type Profile } from '../../tools/dev/cluster.js';
import { serveWebhook, startE2eControlPlane, startE2eMoto } from '../helpers/e2e.js';
import { roleExists } from '../helpers/iam-roles.js';
import { MOTO_ACCOUNT_ID } from '../helpers/moto.js';
import { testRoleSettings } from '../helpers/settings.js';

// An UPDATE that moves a Profile onto an allow-listed role, through the real API server: the
// requester's groups are the API server's, so users are played by impersonation.

const PLUGIN = 'AwsIamForServiceAccount';
const ADMIN_GROUP = 'platform-admins';
const LEGACY_ROLE = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/legacy/shared-analytics`;

const { iam } = await startE2eMoto();
const { cp, kc, api: admin } = await startE2eControlPlane();
await serveWebhook(kc, {
  ALLOWED_ROLE_ARNS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/legacy/*`,
  ROLE_ADMIN_GROUPS: ADMIN_GROUP,
});

// Every authenticated user may edit Profiles, as a tenant who may edit their own would: what
// stops a move is the webhook, not RBAC.
await createObjects(cp.kubeConfig, [
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'profile-editor' },
    rules: [
      {
        apiGroups: ['kubeflow.org'],
        resources: ['profiles'],
        verbs: ['get', 'create', 'update', 'patch'],
      },
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'profile-editor' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'profile-editor' },
    subjects: [
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' },
    ],
  },
]);

const derived = (ns: string) =>
  deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), ns).roleArn;

interface Answer {
  status: number;
  body: { message?: string } & Profile;
}

/** Profile requests as another user, with the admin kubeconfig's impersonation headers. */
function as(user: string, groups: readonly string[] = []) {
  const send = async (method: string, path: string, body: Profile): Promise<Answer> => {
    const options: RequestOptions = {
      method,
      timeout: 60_000,
      headers: {
        'content-type': 'application/json',
        'Impersonate-User': user,
        ...(groups.length > 0 ? { 'Impersonate-Group': [...groups] } : {}),
      },
    };
    await cp.kubeConfig.applyToHTTPSOptions(options);
    const base = `${cp.server}/apis/kubeflow.org/v1/profiles`;
    return new Promise((resolve, reject) => {
      const req = request(`${base}${path}`, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'],
          }),
        );
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  };
  return {
    create: (profile: Profile) => send('POST', '', profile),
    replace: (profile: Profile) => send('PUT', `/${profile.metadata!.name!}`, profile),
  };
}

function roleOf(profile: Profile): unknown[] {
  return (profile.spec?.plugins ?? [])
    .filter((p) => p.kind === PLUGIN)
    .map((p) => p.spec?.['awsIamRole']);
}

/** The stored Profile with its plugin pointed at `roleArn`. */
async function movedTo(name: string, roleArn: string): Promise<Profile> {
  const stored = await admin.get(name);
  return {
    ...stored,
    spec: {
      ...stored.spec,
      plugins: [{ kind: PLUGIN, spec: { awsIamRole: roleArn, annotateOnly: true } }],
    },
  };
}

t.test('a normal user cannot move a Profile onto an allow-listed role', async (t) => {
  const created = await admin.create(plainProfile('team-move'));
  t.same(roleOf(created), [derived('team-move')], 'created on its derived role');

  const answer = await as('mallory@example.com').replace(await movedTo('team-move', LEGACY_ROLE));
  t.equal(answer.status, 403, answer.body.message ?? '');
  t.match(answer.body.message, `role ${LEGACY_ROLE} is allowed for new Profiles only`);
  t.match(answer.body.message, '--role-admin-groups');
  t.same(roleOf(await admin.get('team-move')), [derived('team-move')], 'the Profile kept its role');

  const inOtherGroup = await as('mallory@example.com', ['developers']).replace(
    await movedTo('team-move', LEGACY_ROLE),
  );
  t.equal(inOtherGroup.status, 403, 'a group not listed does not help');
});

t.test('a member of --role-admin-groups may move it', async (t) => {
  const answer = await as('ops@example.com', [ADMIN_GROUP]).replace(
    await movedTo('team-move', LEGACY_ROLE),
  );
  t.equal(answer.status, 200, answer.body.message ?? '');
  t.same(roleOf(answer.body), [LEGACY_ROLE]);
  t.same(roleOf(await admin.get('team-move')), [LEGACY_ROLE], 'stored');

  // Keeping the role it now has is no move: a normal user's other edits still pass.
  const kept = await as('mallory@example.com').replace(await movedTo('team-move', LEGACY_ROLE));
  t.equal(kept.status, 200, kept.body.message ?? '');

  const back = await as('mallory@example.com').replace(
    await movedTo('team-move', derived('team-move')),
  );
  t.equal(back.status, 200, 'and anyone may move it back to its derived role');
});

t.test('a normal user may create a Profile on an allow-listed role', async (t) => {
  const profile = plainProfile('team-legacy', {
    plugins: [{ kind: PLUGIN, spec: { awsIamRole: LEGACY_ROLE, annotateOnly: true } }],
  });
  const answer = await as('mallory@example.com').create(profile);
  t.equal(answer.status, 201, answer.body.message ?? '');
  t.same(roleOf(answer.body), [LEGACY_ROLE]);
  t.notOk(
    await roleExists(
      iam,
      deriveRoleSpec(testRoleSettings({ accountId: MOTO_ACCOUNT_ID }), 'team-legacy').roleName,
    ),
    'and no role is made for it',
  );
});

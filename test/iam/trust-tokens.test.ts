import t from 'tap';
import { createPublicKey, generateKeyPairSync, sign, verify, type JsonWebKey } from 'node:crypto';
import { request, type RequestOptions } from 'node:https';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import { discoverOidcIssuer } from '../../src/discovery/oidc-issuer.js';
import { startControlPlane } from '../../tools/dev/controlplane.js';
import { ACCOUNT_ID, testRoleSettings } from '../helpers/settings.js';
import { judgeWebIdentity } from '../helpers/simulator.js';

// The trust policy the webhook writes, against real service-account tokens: the test API
// server's TokenRequest API mints them, the webhook discovers the issuer from that API server,
// and the trust must admit exactly the namespace's default-editor with the STS audience.

const cp = await startControlPlane();
t.teardown(() => cp.stop());
const core = cp.kubeConfig.makeApiClient(CoreV1Api);

const issuer = await discoverOidcIssuer(cp.kubeConfig);
const settings = testRoleSettings({ oidcIssuer: issuer, accountId: ACCOUNT_ID });
const spec = deriveRoleSpec(settings, 'team-a');
const providerArnFor = (iss: string) =>
  `arn:aws:iam::${ACCOUNT_ID}:oidc-provider/${iss.replace(/^https:\/\//, '')}`;

for (const namespace of ['team-a', 'team-b']) {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (const name of ['default-editor', 'default-viewer']) {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  }
}
const jwks = (await getJson(cp.kubeConfig, `${cp.server}/openid/v1/jwks`)) as {
  keys: (JsonWebKey & { kid?: string })[];
};

async function mint(namespace: string, name: string, audience = 'sts.amazonaws.com') {
  const answer = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [audience], expirationSeconds: 600 } },
  });
  const token = answer.status?.token;
  if (token === undefined) throw new Error(`no token for ${namespace}/${name}`);
  return token;
}

interface Token {
  header: { alg: string; kid?: string };
  claims: Record<string, unknown> & { iss: string };
  signed: Buffer;
  signature: Buffer;
}

function decode(jwt: string): Token {
  const [header, payload, signature] = jwt.split('.');
  const json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  return {
    header: json(header!),
    claims: json(payload!),
    signed: Buffer.from(`${header}.${payload}`),
    signature: Buffer.from(signature!, 'base64url'),
  };
}

/** Whether the API server's published keys verify the token: STS checks this against the provider. */
function signedByApiServer(token: Token): boolean {
  return jwks.keys.some(
    (jwk) =>
      (token.header.kid === undefined || jwk.kid === token.header.kid) &&
      verify(
        'RSA-SHA256',
        token.signed,
        createPublicKey({ key: jwk, format: 'jwk' }),
        token.signature,
      ),
  );
}

async function judge(jwt: string) {
  const token = decode(jwt);
  return judgeWebIdentity(spec.trustPolicy, spec.roleArn, {
    providerArn: providerArnFor(token.claims.iss),
    issuer: token.claims.iss,
    claims: token.claims,
  });
}

t.test('the webhook discovers the issuer the API server signs tokens with', async (t) => {
  const token = decode(await mint('team-a', 'default-editor'));
  t.equal(token.claims.iss, issuer);
  t.ok(signedByApiServer(token), "signed with the key the API server's JWKS publishes");
  t.same(spec.trustPolicy.Statement[0]!.Principal, { Federated: providerArnFor(issuer) });
});

t.test("default-editor's token satisfies the trust exactly", async (t) => {
  const jwt = await mint('team-a', 'default-editor');
  const token = decode(jwt);
  t.equal(token.claims['sub'], 'system:serviceaccount:team-a:default-editor');
  t.same(token.claims['aud'], ['sts.amazonaws.com']);
  const verdict = await judge(jwt);
  t.ok(verdict.allowed, verdict.why);
});

t.test('every other token fails it', async (t) => {
  const cases: [string, string][] = [
    ['default-viewer of the namespace', await mint('team-a', 'default-viewer')],
    ['default-editor of another namespace', await mint('team-b', 'default-editor')],
    ['default-editor, another audience', await mint('team-a', 'default-editor', 'vault')],
  ];
  for (const [what, jwt] of cases) {
    t.ok(signedByApiServer(decode(jwt)), `${what}: a genuine token of this API server`);
    const verdict = await judge(jwt);
    t.notOk(verdict.allowed, `${what}: ${verdict.why}`);
  }
  t.match((await judge(cases[0]![1])).why, /:sub is system:serviceaccount:team-a:default-viewer/);
  t.match((await judge(cases[2]![1])).why, /:aud is vault, not sts\.amazonaws\.com/);
});

t.test('a token of another issuer fails it, even with the same subject and audience', async (t) => {
  const genuine = decode(await mint('team-a', 'default-editor'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = 'https://oidc.eks.eu-west-1.amazonaws.com/id/OTHERCLUSTER0000000000000000';
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'RS256', kid: 'other' })}.${part({ ...genuine.claims, iss: other })}`;
  const jwt = `${unsigned}.${sign('RSA-SHA256', Buffer.from(unsigned), privateKey).toString('base64url')}`;
  const token = decode(jwt);
  t.equal(token.claims['sub'], 'system:serviceaccount:team-a:default-editor');
  t.notOk(signedByApiServer(token), "not signed by this API server's keys");
  const verdict = await judge(jwt);
  t.notOk(verdict.allowed, verdict.why);
  t.match(verdict.why, /ImplicitlyDenied for principal .*oidc-provider\/oidc\.eks\.eu-west-1/);
});

function getJson(kubeConfig: KubeConfig, url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions = {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      timeout: 10_000,
    };
    kubeConfig.applyToHTTPSOptions(options).then(() => {
      const req = request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
            : reject(new Error(`HTTP ${res.statusCode} from ${url}`)),
        );
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
      req.on('error', reject);
      req.end();
    }, reject);
  });
}

import { once } from 'node:events';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { GetRoleCommand, type IAMClient } from '@aws-sdk/client-iam';
import {
  webhookIamCalls,
  webhookIamPolicy,
  type IamPolicySettings,
} from '../../src/core/iam-policy.js';
import { partitionForRegion } from '../../src/core/settings.js';
import { describeRequest, simulate, type SimulatedRequest } from './simulator.js';

/**
 * A recording proxy in front of moto: every request the tests' code sends to "IAM" passes through
 * it, and every IAM request is judged by the policy simulator against the policy `iam-policy`
 * prints for the configuration the caller runs with. moto itself evaluates no policy, so this is
 * what proves the shipped policy allows what the code really does.
 *
 * The configuration travels in the caller's access key ID (judgedCredentials), so a webhook, an
 * ensurer or a spawned CLI is judged exactly for its settings; calls signed with the test's own
 * admin key (arranging and reading back state) are not judged.
 */

/** What a role looked like just before a request acted on it: what IAM authorizes against. */
interface RoleBefore {
  arn: string;
  path: string;
  tags: Record<string, string>;
  boundary: string | undefined;
}

interface RecordedIamRequest {
  operation: string;
  params: Record<string, string>;
  accessKeyId: string | undefined;
  /** The role named by RoleName as it was before the request; undefined when it did not exist. */
  roleBefore: RoleBefore | undefined;
  status: number;
  errorCode: string | undefined;
  /** The configuration it was judged against; undefined for the admin's own calls. */
  settings: IamPolicySettings | undefined;
  /** True when the key named no configuration and the default one was assumed. */
  assumedDefault: boolean;
  /** The authorizations IAM would make for it, each with the simulator's verdict. */
  verdicts: { request: SimulatedRequest; result: string; explanation: string }[];
  /** Set when the operation is missing from webhookIamCalls() for its configuration. */
  unlisted: boolean;
}

export const ADMIN_ACCESS_KEY = 'moto-admin';
const JUDGED_PREFIX = 'JUDGED';

/** Credentials whose IAM calls the recorder judges against `settings`' policy. */
export function judgedCredentials(settings: IamPolicySettings) {
  const encoded = Buffer.from(JSON.stringify(settings)).toString('base64url');
  return { accessKeyId: `${JUDGED_PREFIX}${encoded}`, secretAccessKey: 'testing' };
}

function settingsFromKey(accessKeyId: string): IamPolicySettings | undefined {
  if (!accessKeyId.startsWith(JUDGED_PREFIX)) return undefined;
  return JSON.parse(
    Buffer.from(accessKeyId.slice(JUDGED_PREFIX.length), 'base64url').toString('utf8'),
  ) as IamPolicySettings;
}

export interface IamRecorder {
  endpoint: string;
  port: number;
  /** Every IAM request so far, once its verdict is in. */
  requests(): Promise<RecordedIamRequest[]>;
  /** What the policy did not allow, or webhookIamCalls() does not list, one line each. */
  failures(): Promise<string[]>;
  close(): Promise<void>;
}

export interface IamRecorderOptions {
  /** moto's own endpoint. */
  target: string;
  /** An admin client on moto directly, to read a role before a request acts on it. */
  admin: IAMClient;
  /** The configuration for calls whose key names none (e.g. the shared test credentials). */
  defaultSettings: IamPolicySettings;
}

export async function startIamRecorder(options: IamRecorderOptions): Promise<IamRecorder> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true });
  const pending: Promise<RecordedIamRequest>[] = [];

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const scope = credentialScope(req.headers.authorization);
      const params = queryParams(req.url ?? '/', body, req.headers['content-type']);
      const isIam = scope?.service === 'iam' && params['Action'] !== undefined;
      let roleBefore: RoleBefore | undefined;
      if (isIam && params['RoleName'] !== undefined) {
        roleBefore = await readRole(options.admin, params['RoleName']);
      }
      const answer = await forward(target, agent, req, body);
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      if (isIam && scope.accessKeyId !== ADMIN_ACCESS_KEY) {
        const judged = settingsFromKey(scope.accessKeyId);
        pending.push(
          judge({
            operation: params['Action']!,
            params,
            accessKeyId: scope.accessKeyId,
            roleBefore,
            status: answer.status,
            errorCode: answer.status >= 400 ? errorCode(answer.body) : undefined,
            settings: judged ?? options.defaultSettings,
            assumedDefault: judged === undefined,
            verdicts: [],
            unlisted: false,
          }),
        );
      }
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(error));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port for the recorder');
  const endpoint = `http://127.0.0.1:${address.port}`;

  return {
    endpoint,
    port: address.port,
    requests: () => Promise.all(pending),
    async failures() {
      const lines: string[] = [];
      for (const call of await Promise.all(pending)) {
        const against = describeSettings(call);
        if (call.unlisted) {
          lines.push(
            `iam:${call.operation} is not listed in webhookIamCalls() (src/core/iam-policy.ts) ` +
              `for ${against}; doctor would not check it`,
          );
        }
        for (const verdict of call.verdicts) {
          if (verdict.result !== 'Allowed') {
            lines.push(
              `${describeRequest(verdict.request)} (answered ${call.status}` +
                `${call.errorCode ? ` ${call.errorCode}` : ''}) is ${verdict.result} by the ` +
                `policy for ${against}: ${verdict.explanation}`,
            );
          }
        }
      }
      return lines;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      agent.destroy();
      await Promise.allSettled(pending);
    },
  };
}

function describeSettings(call: RecordedIamRequest): string {
  const s = call.settings!;
  const what =
    `cluster ${s.clusterName}, path ${s.rolePath}, mode ${s.mode}, ` +
    `boundary ${s.permissionsBoundary ?? 'none'}, extra tags ${Object.keys(s.extraTags).join(',') || 'none'}`;
  return call.assumedDefault
    ? `the default test configuration (${what}; the caller's access key names none: create its ` +
        'IAM client with judgedCredentials(settings) from test/helpers/moto.ts)'
    : what;
}

async function judge(call: RecordedIamRequest): Promise<RecordedIamRequest> {
  const settings = call.settings!;
  const requests = authorizationsFor(call, settings);
  const policy = webhookIamPolicy(settings);
  for (const request of requests) {
    try {
      const verdict = await simulate(request, { identity: [policy] });
      call.verdicts.push({ request, ...verdict });
    } catch (error) {
      call.verdicts.push({ request, result: 'Error', explanation: (error as Error).message });
    }
  }
  const listed = new Set(webhookIamCalls(settings).map((c) => c.action));
  call.unlisted = requests.some((r) => !listed.has(r.action));
  return call;
}

/**
 * The authorizations IAM makes for one request: the action on its resource with the request's
 * condition keys, and for CreateRole with tags also iam:TagRole on the new role.
 */
function authorizationsFor(
  call: Pick<RecordedIamRequest, 'operation' | 'params' | 'roleBefore'>,
  settings: Pick<IamPolicySettings, 'accountId' | 'region' | 'rolePath'>,
): SimulatedRequest[] {
  const { operation, params, roleBefore } = call;
  const action = `iam:${operation}`;
  const partition = partitionForRegion(settings.region);
  const roleArn = (path: string, name: string) =>
    `arn:${partition}:iam::${settings.accountId}:role${path}${name}`;
  const name = params['RoleName'];

  if (name === undefined) {
    const resource =
      params['OpenIDConnectProviderArn'] ?? params['PolicySourceArn'] ?? params['PolicyArn'] ?? '*';
    return [{ action, resource, context: {} }];
  }

  const existing: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(roleBefore?.tags ?? {})) {
    existing[`iam:ResourceTag/${key}`] = value;
    existing[`aws:ResourceTag/${key}`] = value;
  }
  if (roleBefore?.boundary !== undefined) existing['iam:PermissionsBoundary'] = roleBefore.boundary;
  const requestTags = listParam(params, 'Tags', ['Key', 'Value']);
  const tagging: Record<string, string | string[]> = {};
  for (const tag of requestTags) tagging[`aws:RequestTag/${tag['Key']}`] = tag['Value'] ?? '';
  if (requestTags.length > 0) tagging['aws:TagKeys'] = requestTags.map((tag) => tag['Key'] ?? '');

  switch (operation) {
    case 'CreateRole': {
      const resource = roleArn(params['Path'] ?? '/', name);
      const boundary = params['PermissionsBoundary'];
      const requests: SimulatedRequest[] = [
        {
          action,
          resource,
          context: { ...tagging, ...(boundary ? { 'iam:PermissionsBoundary': boundary } : {}) },
        },
      ];
      if (requestTags.length > 0) {
        // The tags are authorized as iam:TagRole on the role being created, which has none yet;
        // should IAM look at an existing role of that name (a lost race), that must pass too.
        requests.push({ action: 'iam:TagRole', resource, context: tagging });
        if (roleBefore !== undefined) {
          requests.push({ action: 'iam:TagRole', resource, context: { ...tagging, ...existing } });
        }
      }
      return requests;
    }
    case 'TagRole':
    case 'UntagRole': {
      const keys = listParam(params, 'TagKeys', []).map((item) => item['']!);
      const context =
        operation === 'TagRole'
          ? { ...existing, ...tagging }
          : { ...existing, 'aws:TagKeys': keys };
      return [
        { action, resource: resourceOf(roleBefore, roleArn(settings.rolePath, name)), context },
      ];
    }
    case 'PutRolePermissionsBoundary':
      return [
        {
          action,
          resource: resourceOf(roleBefore, roleArn(settings.rolePath, name)),
          context: { ...existing, 'iam:PermissionsBoundary': params['PermissionsBoundary'] ?? '' },
        },
      ];
    case 'AttachRolePolicy':
    case 'DetachRolePolicy':
      return [
        {
          action,
          resource: resourceOf(roleBefore, roleArn(settings.rolePath, name)),
          context: { ...existing, 'iam:PolicyARN': params['PolicyArn'] ?? '' },
        },
      ];
    default: {
      if (roleBefore !== undefined)
        return [{ action, resource: roleBefore.arn, context: existing }];
      // A role that does not exist has no path for IAM to read: it must be allowed whether IAM
      // places it at the root or under the configured path.
      return [
        { action, resource: roleArn(settings.rolePath, name), context: {} },
        ...(operation === 'GetRole' ? [{ action, resource: roleArn('/', name), context: {} }] : []),
      ];
    }
  }
}

function resourceOf(role: RoleBefore | undefined, fallback: string): string {
  return role?.arn ?? fallback;
}

/** `Tags.member.1.Key=a&Tags.member.1.Value=b` as [{Key: a, Value: b}]; bare members under ''. */
function listParam(
  params: Record<string, string>,
  name: string,
  fields: string[],
): Record<string, string>[] {
  const items: Record<string, string>[] = [];
  for (let i = 1; ; i++) {
    const base = `${name}.member.${i}`;
    if (fields.length === 0) {
      if (params[base] === undefined) return items;
      items.push({ '': params[base] });
      continue;
    }
    if (params[`${base}.${fields[0]}`] === undefined) return items;
    items.push(
      Object.fromEntries(fields.map((field) => [field, params[`${base}.${field}`] ?? ''])),
    );
  }
}

async function readRole(admin: IAMClient, roleName: string): Promise<RoleBefore | undefined> {
  try {
    const { Role } = await admin.send(new GetRoleCommand({ RoleName: roleName }));
    if (Role?.Arn === undefined) return undefined;
    return {
      arn: Role.Arn,
      path: Role.Path ?? '/',
      tags: Object.fromEntries((Role.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
      boundary: Role.PermissionsBoundary?.PermissionsBoundaryArn,
    };
  } catch (error) {
    if ((error as Error).name === 'NoSuchEntityException') return undefined;
    throw error;
  }
}

function credentialScope(
  authorization: string | undefined,
): { accessKeyId: string; service: string } | undefined {
  const match = /Credential=([^/]+)\/[^/]+\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '');
  return match ? { accessKeyId: match[1]!, service: match[2]! } : undefined;
}

function queryParams(
  url: string,
  body: Buffer,
  contentType: string | undefined,
): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [k, v] of new URL(url, 'http://x').searchParams) params[k] = v;
  if ((contentType ?? '').startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
  }
  return params;
}

function errorCode(body: Buffer): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(body.toString('utf8'))?.[1];
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

function forward(target: URL, agent: Agent, req: IncomingMessage, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The Host header stays the client's: it is part of what SigV4 signed, and moto checks
    // signatures when its authorization is on.
    const headers = { ...req.headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (res) => {
        void readBody(res).then((data) => {
          const out: Record<string, string | string[]> = {};
          for (const [key, value] of Object.entries(res.headers)) {
            if (value !== undefined && key !== 'transfer-encoding' && key !== 'connection') {
              out[key] = value;
            }
          }
          out['content-length'] = String(data.length);
          resolve({ status: res.statusCode ?? 502, headers: out, body: data });
        }, reject);
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

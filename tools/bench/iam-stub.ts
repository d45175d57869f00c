import { createServer, type Server } from 'node:http';
import { listenOnLoopback } from '../dev/loopback.js';

/**
 * A minimal stand-in for IAM's Query API, for the runs moto cannot keep up with (it needs about
 * 10 ms per call on a small machine: 10,000 namespaces, or a full pass over 5,000 roles, would
 * take many minutes). It keeps roles in memory and answers the calls the webhook and the
 * reconciler make (create, read, list, tag, inline policies) as IAM does, in IAM's XML; the
 * product's own path (SDK, RoleEnsurer, reconciler) runs unchanged. Never used for the timings of
 * IAM itself, only for the work around it; it counts every call by action.
 */
export interface IamStub {
  endpoint: string;
  calls: Record<string, number>;
  /** Roles held now. */
  roleCount(): number;
  /** Roles carrying a tag of that key. */
  rolesTagged(key: string): number;
  stop(): Promise<void>;
}

const NS = 'https://iam.amazonaws.com/doc/2010-05-08/';

interface StubRole {
  path: string;
  name: string;
  id: string;
  arn: string;
  created: string;
  trust: string;
  maxSessionDuration: string;
  boundary: string | undefined;
  tags: Map<string, string>;
  policies: Map<string, string>;
}

class IamError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startIamStub(accountId: string): Promise<IamStub> {
  const calls: Record<string, number> = {};
  const roles = new Map<string, StubRole>();
  let seq = 0;

  const roleOf = (form: URLSearchParams): StubRole => {
    const name = form.get('RoleName') ?? '';
    const role = roles.get(name);
    if (role === undefined) {
      throw new IamError(404, 'NoSuchEntity', `The role with name ${name} cannot be found.`);
    }
    return role;
  };

  /** The result element's content for one action, or an IamError. */
  const answer = (action: string, form: URLSearchParams): string => {
    switch (action) {
      case 'CreateRole': {
        const name = form.get('RoleName') ?? '';
        if (roles.has(name)) {
          throw new IamError(409, 'EntityAlreadyExists', `Role with name ${name} already exists.`);
        }
        const path = form.get('Path') ?? '/';
        const role: StubRole = {
          path,
          name,
          id: `AROASTUB${String(++seq).padStart(12, '0')}`,
          arn: `arn:aws:iam::${accountId}:role${path}${name}`,
          created: new Date().toISOString(),
          trust: form.get('AssumeRolePolicyDocument') ?? '',
          maxSessionDuration: form.get('MaxSessionDuration') ?? '3600',
          boundary: form.get('PermissionsBoundary') ?? undefined,
          tags: memberPairs(form, 'Tags'),
          policies: new Map(),
        };
        roles.set(name, role);
        return `<Role>${roleXml(role, false)}</Role>`;
      }
      case 'GetRole':
        return `<Role>${roleXml(roleOf(form), true)}</Role>`;
      case 'ListRoles': {
        const prefix = form.get('PathPrefix') ?? '/';
        const all = [...roles.values()].filter((role) => role.path.startsWith(prefix));
        const start = Number(form.get('Marker') ?? '0');
        const max = Number(form.get('MaxItems') ?? '100');
        const page = all.slice(start, start + max);
        const more = start + max < all.length;
        return (
          `<Roles>${page.map((role) => `<member>${roleXml(role, false)}</member>`).join('')}</Roles>` +
          `<IsTruncated>${more}</IsTruncated>${more ? `<Marker>${start + max}</Marker>` : ''}`
        );
      }
      case 'ListRoleTags':
        return `${tagsXml(roleOf(form).tags)}<IsTruncated>false</IsTruncated>`;
      case 'TagRole': {
        const role = roleOf(form);
        for (const [key, value] of memberPairs(form, 'Tags')) role.tags.set(key, value);
        return '';
      }
      case 'UntagRole': {
        const role = roleOf(form);
        for (const key of members(form, 'TagKeys')) role.tags.delete(key);
        return '';
      }
      case 'PutRolePolicy':
        roleOf(form).policies.set(form.get('PolicyName') ?? '', form.get('PolicyDocument') ?? '');
        return '';
      case 'GetRolePolicy': {
        const role = roleOf(form);
        const name = form.get('PolicyName') ?? '';
        const document = role.policies.get(name);
        if (document === undefined) {
          throw new IamError(
            404,
            'NoSuchEntity',
            `The role policy with name ${name} cannot be found.`,
          );
        }
        return (
          `<RoleName>${escapeXml(role.name)}</RoleName><PolicyName>${escapeXml(name)}</PolicyName>` +
          `<PolicyDocument>${encodeURIComponent(document)}</PolicyDocument>`
        );
      }
      case 'ListRolePolicies':
        return (
          `<PolicyNames>${[...roleOf(form).policies.keys()].map((name) => `<member>${escapeXml(name)}</member>`).join('')}</PolicyNames>` +
          '<IsTruncated>false</IsTruncated>'
        );
      case 'ListAttachedRolePolicies':
        roleOf(form);
        return '<AttachedPolicies></AttachedPolicies><IsTruncated>false</IsTruncated>';
      case 'ListInstanceProfilesForRole':
        roleOf(form);
        return '<InstanceProfiles></InstanceProfiles><IsTruncated>false</IsTruncated>';
      case 'DeleteRolePolicy':
        roleOf(form).policies.delete(form.get('PolicyName') ?? '');
        return '';
      case 'DeleteRole':
        roleOf(form);
        roles.delete(form.get('RoleName') ?? '');
        return '';
      default:
        throw new IamError(400, 'InvalidAction', `the stub does not implement ${action}`);
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = form.get('Action') ?? 'Unknown';
      calls[action] = (calls[action] ?? 0) + 1;
      const requestId = `stub-${++seq}`;
      const send = (status: number, xml: string) => {
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
        res.end(xml);
      };
      try {
        const inner = answer(action, form);
        send(
          200,
          `<${action}Response xmlns="${NS}"><${action}Result>${inner}</${action}Result>` +
            `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
            `</${action}Response>`,
        );
      } catch (err) {
        const error =
          err instanceof IamError ? err : new IamError(500, 'ServiceFailure', String(err));
        send(
          error.status,
          `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${error.code}</Code>` +
            `<Message>${escapeXml(error.message)}</Message></Error>` +
            `<RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
      }
    });
  });
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    roleCount: () => roles.size,
    rolesTagged: (key) => [...roles.values()].filter((role) => role.tags.has(key)).length,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A role as IAM returns it: ListRoles and CreateRole leave out its tags and its boundary. */
function roleXml(role: StubRole, full: boolean): string {
  return (
    `<Path>${escapeXml(role.path)}</Path><RoleName>${escapeXml(role.name)}</RoleName>` +
    `<RoleId>${role.id}</RoleId><Arn>${escapeXml(role.arn)}</Arn>` +
    `<CreateDate>${role.created}</CreateDate>` +
    `<AssumeRolePolicyDocument>${encodeURIComponent(role.trust)}</AssumeRolePolicyDocument>` +
    `<MaxSessionDuration>${escapeXml(role.maxSessionDuration)}</MaxSessionDuration>` +
    (full && role.boundary !== undefined
      ? `<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType>` +
        `<PermissionsBoundaryArn>${escapeXml(role.boundary)}</PermissionsBoundaryArn></PermissionsBoundary>`
      : '') +
    (full ? tagsXml(role.tags) : '')
  );
}

function tagsXml(tags: Map<string, string>): string {
  return `<Tags>${[...tags]
    .map(
      ([key, value]) =>
        `<member><Key>${escapeXml(key)}</Key><Value>${escapeXml(value)}</Value></member>`,
    )
    .join('')}</Tags>`;
}

/** `Name.member.N` list parameters of the Query protocol. */
function members(form: URLSearchParams, name: string): string[] {
  const values: string[] = [];
  for (let i = 1; form.has(`${name}.member.${i}`); i++)
    values.push(form.get(`${name}.member.${i}`)!);
  return values;
}

/** `Name.member.N.Key` / `.Value` pairs of the Query protocol. */
function memberPairs(form: URLSearchParams, name: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (let i = 1; form.has(`${name}.member.${i}.Key`); i++) {
    pairs.set(form.get(`${name}.member.${i}.Key`)!, form.get(`${name}.member.${i}.Value`) ?? '');
  }
  return pairs;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

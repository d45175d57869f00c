import { createServer, type Server } from 'node:http';
import { listenOnLoopback } from '../dev/loopback.js';

/**
 * A minimal stand-in for IAM's Query API, used only to fill the webhook's role cache with many
 * namespaces quickly (moto needs about 10 ms per call on a small machine, so 10,000 namespaces
 * would take several minutes). Every role is new: GetRole answers NoSuchEntity, CreateRole and
 * PutRolePolicy succeed. The webhook's own path (SDK, RoleEnsurer, cache) runs unchanged; only
 * the IAM server is cheaper. Never used for timings.
 */
export interface IamStub {
  endpoint: string;
  calls: Record<string, number>;
  stop(): Promise<void>;
}

const NS = 'https://iam.amazonaws.com/doc/2010-05-08/';

export async function startIamStub(accountId: string): Promise<IamStub> {
  const calls: Record<string, number> = {};
  let seq = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = form.get('Action') ?? 'Unknown';
      const roleName = form.get('RoleName') ?? '';
      calls[action] = (calls[action] ?? 0) + 1;
      const requestId = `stub-${++seq}`;
      const send = (status: number, xml: string) => {
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
        res.end(xml);
      };
      const ok = (inner: string) =>
        send(
          200,
          `<${action}Response xmlns="${NS}">${inner}` +
            `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
            `</${action}Response>`,
        );
      switch (action) {
        case 'GetRole':
          send(
            404,
            `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>` +
              `<Message>The role with name ${escapeXml(roleName)} cannot be found.</Message>` +
              `</Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
          );
          return;
        case 'CreateRole': {
          const path = form.get('Path') ?? '/';
          ok(
            `<CreateRoleResult><Role><Path>${escapeXml(path)}</Path>` +
              `<RoleName>${escapeXml(roleName)}</RoleName><RoleId>AROASTUB${seq}</RoleId>` +
              `<Arn>arn:aws:iam::${accountId}:role${escapeXml(path)}${escapeXml(roleName)}</Arn>` +
              `<CreateDate>2025-01-01T00:00:00Z</CreateDate>` +
              `<AssumeRolePolicyDocument>${encodeURIComponent(form.get('AssumeRolePolicyDocument') ?? '')}</AssumeRolePolicyDocument>` +
              `</Role></CreateRoleResult>`,
          );
          return;
        }
        case 'PutRolePolicy':
          ok('');
          return;
        default:
          send(
            400,
            `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>InvalidAction</Code>` +
              `<Message>the stub does not implement ${escapeXml(action)}</Message></Error>` +
              `<RequestId>${requestId}</RequestId></ErrorResponse>`,
          );
      }
    });
  });
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

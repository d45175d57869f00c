import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { listenOnLoopback } from '../../tools/dev/loopback.js';
import { pageAnswer, UNPAGED_BY_MOTO } from './iam-paging.js';

/** IAM API actions that change something. */
export const IAM_WRITES = new Set([
  'CreateRole',
  'PutRolePolicy',
  'UpdateAssumeRolePolicy',
  'PutRolePermissionsBoundary',
  'UpdateRole',
  'TagRole',
  'UntagRole',
  'DeleteRolePolicy',
  'DeleteRole',
  'AttachRolePolicy',
  'DetachRolePolicy',
]);

const THROTTLING =
  '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>' +
  '<Code>Throttling</Code><Message>Rate exceeded</Message></Error>' +
  '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>';

function iamError(code: string, message: string): string {
  return (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>' +
    `<Code>${code}</Code><Message>${message}</Message></Error>` +
    '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>'
  );
}

/** How long IAM's eventual consistency shows after a change, as real IAM does and moto does not. */
interface IamLag {
  /** After a CreateRole, every other call on that role answers NoSuchEntity for this long. */
  afterCreateMs: number;
  /** After a DeleteRole, a CreateRole of that name answers EntityAlreadyExists for this long. */
  afterDeleteMs: number;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of moto that counts every IAM/STS request at the endpoint,
 * not in the webhook's code, and can act as IAM does when it fails: hang (requests read, counted
 * and never answered) or push back (`Throttling`, HTTP 400).
 */
export interface IamProxy {
  endpoint: string;
  /** The `Action` of every request received so far (answered, held or throttled), in order. */
  actions(): string[];
  /** Requests that reached IAM (moto), of one action or of all. */
  forwarded(action?: string): number;
  /** Write requests that reached IAM. */
  writes(): number;
  /** From now on hold every request unanswered. */
  hang(): void;
  /** Forward again; requests held so far are dropped (their connections closed). */
  forward(): void;
  /** Answers every request with `Throttling` for this long from the next request on. */
  throttleFor(ms: number): void;
  /** Requests answered with Throttling. */
  throttled(): number;
  /** From now on play IAM's eventual consistency (see IamLag). */
  lag(lag: IamLag): void;
  /** Requests answered with a lagging NoSuchEntity or EntityAlreadyExists. */
  lagged(): number;
  /** From now on page the lists moto answers whole by MaxItems and Marker, as IAM does. */
  pageLists(): void;
  /** When the last throttling began and when the last request reached IAM (ms since the epoch). */
  times(): { throttleStarted: number; lastForwarded: number };
  close(): Promise<void>;
}

export async function startIamProxy(targetEndpoint: string): Promise<IamProxy> {
  const target = new URL(targetEndpoint);
  const seen: string[] = [];
  const reached: string[] = [];
  const held = new Set<ServerResponse>();
  let hanging = false;
  let throttledCount = 0;
  let armedMs = 0;
  let throttleUntil = 0;
  let throttleStarted = 0;
  let lastForwarded = 0;
  let lag: IamLag | undefined;
  let laggedCount = 0;
  const createdAt = new Map<string, number>();
  const deletedAt = new Map<string, number>();

  let pagingLists = false;

  const relay = (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    onSuccess: () => void = () => {},
    page?: { list: string; maxItems: number; marker: string },
  ) => {
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // The Host header stays the client's: SigV4 signs it.
        headers: req.headers,
      },
      (answer) => {
        if (answer.statusCode === 200) onSuccess();
        if (page === undefined || answer.statusCode !== 200) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const xml = pageAnswer(
            Buffer.concat(chunks).toString('utf8'),
            page.list,
            page.maxItems,
            page.marker,
          );
          const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(xml)) };
          res.writeHead(200, headers);
          res.end(xml);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // The IAM and STS query protocol: `Action=GetRole&...` in a form body (or the query).
      const form = new URLSearchParams(body.toString('utf8'));
      const query = new URL(req.url ?? '/', 'http://proxy').searchParams;
      const action = form.get('Action') ?? query.get('Action') ?? `${req.method} ${req.url}`;
      seen.push(action);
      if (hanging) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      if (armedMs > 0) {
        throttleStarted = Date.now();
        throttleUntil = throttleStarted + armedMs;
        armedMs = 0;
      }
      if (Date.now() < throttleUntil) {
        throttledCount++;
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(THROTTLING);
        return;
      }
      const roleName = form.get('RoleName') ?? '';
      if (lag !== undefined && roleName !== '') {
        const now = Date.now();
        const created = createdAt.get(roleName);
        const deleted = deletedAt.get(roleName);
        let answer: [number, string] | undefined;
        if (action !== 'CreateRole' && created !== undefined && now < created + lag.afterCreateMs) {
          answer = [
            404,
            iamError('NoSuchEntity', `The role with name ${roleName} cannot be found.`),
          ];
        } else if (
          action === 'CreateRole' &&
          deleted !== undefined &&
          now < deleted + lag.afterDeleteMs
        ) {
          answer = [
            409,
            iamError('EntityAlreadyExists', `Role with name ${roleName} already exists.`),
          ];
        }
        if (answer !== undefined) {
          laggedCount++;
          res.writeHead(answer[0], { 'content-type': 'text/xml' });
          res.end(answer[1]);
          return;
        }
      }
      reached.push(action);
      lastForwarded = Date.now();
      const list = UNPAGED_BY_MOTO.get(action);
      const maxItems = Number(form.get('MaxItems') ?? '');
      const page =
        pagingLists && list !== undefined && maxItems > 0
          ? { list, maxItems, marker: form.get('Marker') ?? '' }
          : undefined;
      // Only a change IAM made starts its lag.
      relay(
        req,
        res,
        body,
        () => {
          if (action === 'CreateRole') createdAt.set(roleName, Date.now());
          if (action === 'DeleteRole') deletedAt.set(roleName, Date.now());
        },
        page,
      );
    });
  });
  const port = await listenOnLoopback(server);
  const dropHeld = () => {
    for (const res of held) res.destroy();
    held.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    actions: () => [...seen],
    forwarded: (action) =>
      action === undefined ? reached.length : reached.filter((a) => a === action).length,
    writes: () => reached.filter((action) => IAM_WRITES.has(action)).length,
    hang: () => {
      hanging = true;
    },
    forward: () => {
      hanging = false;
      dropHeld();
    },
    throttleFor: (ms) => {
      armedMs = ms;
    },
    throttled: () => throttledCount,
    lag: (value) => {
      lag = value;
    },
    lagged: () => laggedCount,
    pageLists: () => {
      pagingLists = true;
    },
    times: () => ({ throttleStarted, lastForwarded }),
    close: async () => {
      dropHeld();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

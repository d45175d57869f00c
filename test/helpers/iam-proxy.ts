import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { listenOnLoopback } from '../../tools/dev/loopback.js';

/**
 * An HTTP proxy on 127.0.0.1 in front of moto that counts every IAM/STS request it receives, at
 * the endpoint and not in the webhook's code, and can turn into a black hole: requests are then
 * read, counted and never answered, as when IAM hangs.
 */
export interface IamProxy {
  endpoint: string;
  /** The `Action` of every request received so far (answered or held), in order. */
  actions(): string[];
  /** From now on hold every request unanswered. */
  hang(): void;
  /** Forward again; requests held so far are dropped (their connections closed). */
  forward(): void;
  close(): Promise<void>;
}

export async function startIamProxy(targetEndpoint: string): Promise<IamProxy> {
  const target = new URL(targetEndpoint);
  const seen: string[] = [];
  const held = new Set<ServerResponse>();
  let hanging = false;

  const relay = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
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
      seen.push(form.get('Action') ?? query.get('Action') ?? `${req.method} ${req.url}`);
      if (hanging) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      relay(req, res, body);
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
    hang: () => {
      hanging = true;
    },
    forward: () => {
      hanging = false;
      dropHeld();
    },
    close: async () => {
      dropHeld();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

import { connect, createServer, type Server, type Socket } from 'node:net';
import { listenOnLoopback } from '../../tools/dev/loopback.js';

export interface FaultServer {
  endpoint: string;
  port: number;
  /** Connections still open, to tell whether a client hung up. */
  openConnections(): number;
  close(): Promise<void>;
}

async function listen(server: Server, sockets: Set<Socket>): Promise<FaultServer> {
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    openConnections: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Accepts connections on 127.0.0.1 and never answers: an IAM endpoint that hangs. */
export function startBlackhole(): Promise<FaultServer> {
  // Requests are read and dropped, so a client that hangs up is seen as the socket closing.
  return listen(
    createServer((socket) => socket.resume()),
    new Set(),
  );
}

/** Forwards to `targetPort` on 127.0.0.1 after holding each new connection for `delayMs`. */
export function startSlowProxy(targetPort: number, delayMs: number): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    // The client socket stays paused (its bytes buffered) until it is piped.
    const timer = setTimeout(() => {
      const upstream = connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
    }, delayMs);
    client.on('close', () => clearTimeout(timer));
  });
  return listen(server, sockets);
}

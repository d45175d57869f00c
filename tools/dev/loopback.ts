import { once } from 'node:events';
import { createServer, type Server } from 'node:net';

/** Starts `server` on a port of 127.0.0.1 the OS picks, and returns that port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}

/**
 * A port of 127.0.0.1 that was free a moment ago, for a process that only takes a port number.
 * Another socket can take it first, so whoever binds it must be ready to retry with a new one.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

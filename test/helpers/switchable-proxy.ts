import { connect, createServer, type Socket } from 'node:net';
import { listenOnLoopback } from '../../tools/dev/loopback.js';

export interface SwitchableProxy {
  port: number;
  /**
   * From now on nothing gets through, in either direction, on open connections or new ones: the
   * sockets stay open and every byte is dropped, as when packets vanish on the way.
   */
  blackhole(): void;
  /** New connections are forwarded again (black-holed ones stay dead until their client gives up). */
  restore(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 to `targetPort` on 127.0.0.1 that can be turned into a black hole. */
export async function startSwitchableProxy(targetPort: number): Promise<SwitchableProxy> {
  let dropping = false;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const drop = (pair: { client: Socket; upstream: Socket }): void => {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.resume();
    pair.upstream.resume();
  };

  const server = createServer((client) => {
    track(client);
    if (dropping) {
      client.resume();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    track(upstream);
    const pair = { client, upstream };
    pairs.add(pair);
    const forget = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', forget);
    upstream.on('close', forget);
    client.pipe(upstream).pipe(client);
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    blackhole() {
      dropping = true;
      for (const pair of pairs) drop(pair);
    },
    restore() {
      dropping = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

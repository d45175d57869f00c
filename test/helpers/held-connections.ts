import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls, type TLSSocket } from 'node:tls';

/** The admission port to hold connections on, on 127.0.0.1. */
interface Target {
  port: number;
  certs: { caCert: string };
}

export interface Held {
  socket: TLSSocket;
  /** The server refused it before TLS completed. */
  refused: boolean;
  /** The server closed it after TLS completed (it was idle and made room). */
  closed: boolean;
}

/**
 * Opens a TLS connection from `localAddress`; with `firstRequest`, sends it and waits for the
 * answer, so the connection is then an idle keep-alive one, as a pooled client leaves it.
 */
function hold(
  served: Target,
  localAddress: string,
  firstRequest: string | undefined,
): Promise<Held> {
  return new Promise((resolve) => {
    // net.connect takes localAddress; tls.connect passes it on, though its type omits it.
    const options = { host: '127.0.0.1', port: served.port, localAddress, ca: served.certs.caCert };
    const socket = connectTls(options);
    const held: Held = { socket, refused: false, closed: false };
    let secured = false;
    const timer = setTimeout(() => resolve(held), 10_000);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      if (secured) held.closed = true;
      else held.refused = true;
      clearTimeout(timer);
      resolve(held);
    });
    socket.once('secureConnect', () => {
      secured = true;
      if (firstRequest === undefined) {
        clearTimeout(timer);
        return resolve(held);
      }
      socket.write(firstRequest);
      // A trickled request gets no answer: it is in flight once sent.
      if (firstRequest === TRICKLE_REQUEST) {
        clearTimeout(timer);
        return resolve(held);
      }
      socket.once('data', () => {
        clearTimeout(timer);
        resolve(held);
      });
    });
  });
}

/** `count` connections from `localAddress`, opened one after another (so oldest first). */
export async function holdMany(
  t: Test,
  served: Target,
  localAddress: string,
  count: number,
  firstRequest: string | undefined = IDLE_REQUEST,
): Promise<Held[]> {
  const all: Held[] = [];
  t.teardown(() => all.forEach((h) => h.socket.destroy()));
  for (let i = 0; i < count; i++) all.push(await hold(served, localAddress, firstRequest));
  // Closes the server made are seen here a moment later.
  await sleep(300);
  return all;
}

/** The cheapest request: a 404, after which the connection is kept alive. */
const IDLE_REQUEST = 'GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

/** A request whose body never finishes: the connection stays active until the request timeout. */
export const TRICKLE_REQUEST =
  'POST /validate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
  'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{';

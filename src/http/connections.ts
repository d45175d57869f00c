import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export type ConnectionState = 'handshake' | 'idle' | 'active';
export const CONNECTION_STATES: readonly ConnectionState[] = ['handshake', 'idle', 'active'];

/**
 * Why the server closed a connection itself: an idle one closed to make room for a new one
 * (`idle-evicted`), or a new one refused because every slot is busy (`max-connections`) or its
 * client address holds its whole share (`per-client`).
 */
export type ConnectionClose = 'idle-evicted' | 'max-connections' | 'per-client';

export interface ConnectionLimits {
  /** Connections open at once, from every client together. */
  maxConnections: number;
  /** Connections open at once from one client address. */
  maxConnectionsPerClient: number;
}

interface Connection {
  readonly address: string;
  /** The TCP socket; destroying it ends the TLS connection on top. */
  readonly socket: Socket;
  state: ConnectionState;
  /** Requests received and not yet answered (HTTP/1.1 may pipeline a few). */
  requests: number;
  gone: boolean;
}

/**
 * Accounts for every connection of the admission server and keeps it within its limits. Idle
 * connections never cost a new caller its answer: at the cap, the connection idle the longest is
 * closed to make room, and a new one is refused only when every slot carries a request or a TLS
 * handshake (each bounded by the request and handshake timeouts). One client address holds at
 * most its share, so one client cannot fill the slots with busy connections either.
 *
 * A connection counts as idle from the end of its TLS handshake or of its last response until a
 * request's headers have arrived: a client still trickling headers is as closable as one that
 * sends nothing.
 */
export class ConnectionTracker {
  /** Idle connections, longest idle first (a Set keeps insertion order). */
  private readonly idle = new Set<Connection>();
  /** Connections still in their TLS handshake, by `address|port`. */
  private readonly handshaking = new Map<string, Connection>();
  private readonly byTlsSocket = new WeakMap<object, Connection>();
  private readonly perAddress = new Map<string, number>();
  private total = 0;
  /** Open connections by state; read at scrape time. */
  readonly counts: Record<ConnectionState, number> = { handshake: 0, idle: 0, active: 0 };

  constructor(
    server: HttpsServer,
    readonly limits: ConnectionLimits,
    private readonly onClosed: (reason: ConnectionClose) => void,
  ) {
    // Before the TLS server's own listener: a refused socket never starts a handshake.
    server.prependListener('connection', (socket: Socket) => this.arrived(socket));
    server.on('secureConnection', (socket: TLSSocket) => this.secured(socket));
    server.on('request', (request: IncomingMessage, response: ServerResponse) =>
      this.request(request, response),
    );
  }

  get open(): number {
    return this.total;
  }

  /** Connections open from one client address. */
  openFrom(address: string): number {
    return this.perAddress.get(clientAddress(address)) ?? 0;
  }

  private arrived(socket: Socket): void {
    const address = clientAddress(socket.remoteAddress ?? '');
    if ((this.perAddress.get(address) ?? 0) >= this.limits.maxConnectionsPerClient) {
      return this.refuse(socket, 'per-client');
    }
    if (this.total >= this.limits.maxConnections) {
      const oldest = this.idle.values().next();
      if (oldest.done) return this.refuse(socket, 'max-connections');
      this.gone(oldest.value);
      oldest.value.socket.destroy();
      this.onClosed('idle-evicted');
    }
    const connection: Connection = {
      address,
      socket,
      state: 'handshake',
      requests: 0,
      gone: false,
    };
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.handshaking.set(key, connection);
    this.total++;
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    this.counts.handshake++;
    socket.once('close', () => {
      if (this.handshaking.get(key) === connection) this.handshaking.delete(key);
      this.gone(connection);
    });
  }

  private secured(socket: TLSSocket): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const connection = this.handshaking.get(key);
    if (!connection) return;
    this.handshaking.delete(key);
    if (connection.gone) return;
    this.byTlsSocket.set(socket, connection);
    this.move(connection, 'idle');
  }

  private request(request: IncomingMessage, response: ServerResponse): void {
    const connection = this.byTlsSocket.get(request.socket);
    if (!connection) return;
    if (connection.requests++ === 0 && !connection.gone) this.move(connection, 'active');
    response.once('close', () => {
      if (--connection.requests === 0 && !connection.gone) this.move(connection, 'idle');
    });
  }

  private move(connection: Connection, to: ConnectionState): void {
    this.counts[connection.state]--;
    this.counts[to]++;
    connection.state = to;
    // Deleted and added again, so that the Set's first entry is the one idle the longest.
    this.idle.delete(connection);
    if (to === 'idle') this.idle.add(connection);
  }

  /** Frees the connection's slot; the socket may close later. */
  private gone(connection: Connection): void {
    if (connection.gone) return;
    connection.gone = true;
    this.counts[connection.state]--;
    this.idle.delete(connection);
    this.total--;
    const left = (this.perAddress.get(connection.address) ?? 1) - 1;
    if (left === 0) this.perAddress.delete(connection.address);
    else this.perAddress.set(connection.address, left);
  }

  private refuse(socket: Socket, reason: ConnectionClose): void {
    socket.destroy();
    this.onClosed(reason);
  }
}

/** An IPv4 client reaching a dual-stack socket shows as `::ffff:a.b.c.d`; it is one client. */
function clientAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

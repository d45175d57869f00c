import { isIP } from 'node:net';
import { checkServerIdentity, connect } from 'node:tls';
import type { Outcome, TlsFact, TlsTarget } from './facts.js';

const HANDSHAKE_TIMEOUT_MS = 5000;

/**
 * Connects as the API server does, trusting only `caPem` (the caBundle; the system CAs when it is
 * empty), and reports what it saw: whether the chain verifies, whether the certificate is for
 * `serverName`, and the certificate itself. Never sends a request.
 */
export function probeTls(target: TlsTarget, caPem: string | undefined): Promise<Outcome<TlsFact>> {
  return new Promise((resolve) => {
    let hostnameError: string | undefined;
    const socket = connect({
      host: target.host,
      port: target.port,
      // RFC 6066: no SNI for IP addresses.
      ...(isIP(target.serverName) ? {} : { servername: target.serverName }),
      ...(caPem ? { ca: caPem } : {}),
      rejectUnauthorized: false,
      checkServerIdentity: (_host, cert) => {
        hostnameError = checkServerIdentity(target.serverName, cert)?.message;
        return undefined;
      },
    });
    const finish = (outcome: Outcome<TlsFact>) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () =>
      finish({
        ok: false,
        error: {
          name: 'TimeoutError',
          code: 'ETIMEDOUT',
          message: `no TLS handshake within ${HANDSHAKE_TIMEOUT_MS} ms`,
        },
      }),
    );
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      if (!peer) {
        finish({ ok: false, error: { name: 'Error', message: 'the server sent no certificate' } });
        return;
      }
      finish({
        ok: true,
        value: {
          chainError: socket.authorized ? undefined : String(socket.authorizationError),
          hostnameError,
          peer: {
            subject: peer.subject,
            issuer: peer.issuer,
            subjectAltName: peer.subjectAltName ?? '',
            validTo: new Date(peer.validTo),
          },
        },
      });
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({ ok: false, error: { name: error.name, code: error.code, message: error.message } }),
    );
  });
}

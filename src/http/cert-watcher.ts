import { createHash, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';

export interface CertPair {
  cert: Buffer;
  key: Buffer;
  notAfter: Date;
}

/** Reads a certificate and key and proves they form a usable pair before anyone serves with them. */
export async function loadCertPair(certFile: string, keyFile: string): Promise<CertPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return certPair(cert, key);
}

function certPair(cert: Buffer, key: Buffer): CertPair {
  createSecureContext({ cert, key }); // throws on unreadable PEM or a key that does not match
  const notAfter = new Date(new X509Certificate(cert).validTo);
  return { cert, key, notAfter };
}

export interface CertWatcherOptions {
  certFile: string;
  keyFile: string;
  logger: Logger;
  /** Polling covers file systems where change events are lost (and Secret volumes' symlink swaps). */
  intervalMs?: number | undefined;
  /** The pair in service now; changes are measured against it. */
  current: CertPair;
  onChange(pair: CertPair): void;
}

/**
 * Keeps the serving certificate current without a restart. A new pair is taken only once it
 * loads and matches; a bad or half-written pair leaves the previous one in service.
 */
export class CertWatcher {
  private fingerprint: string;
  private rejected = '';
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];
  private checking: Promise<void> | undefined;

  constructor(private readonly options: CertWatcherOptions) {
    this.fingerprint = fingerprintOf(options.current.cert, options.current.key);
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 10_000);
    this.timer.unref();
    for (const dir of new Set([dirname(this.options.certFile), dirname(this.options.keyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.soon());
        watcher.on('error', () => undefined); // polling still covers the directory
        this.watchers.push(watcher);
      } catch {
        // Not every file system can be watched; polling covers it.
      }
    }
  }

  /** Runs a check now; resolves when it is done (used by tests and by change events). */
  check(): Promise<void> {
    this.checking ??= this.reload().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  close(): void {
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  /** Writers replace the cert and the key one after the other; wait for both before reading. */
  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), 200);
    this.debounce.unref();
  }

  private async reload(): Promise<void> {
    const { certFile, keyFile, logger } = this.options;
    let cert: Buffer, key: Buffer;
    try {
      [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
    } catch (error) {
      logger.warn({ err: error }, 'cannot read the TLS files; keeping the current certificate');
      return;
    }
    const fingerprint = fingerprintOf(cert, key);
    if (fingerprint === this.fingerprint || fingerprint === this.rejected) return;
    try {
      const pair = certPair(cert, key);
      this.fingerprint = fingerprint;
      this.options.onChange(pair);
      logger.info({ notAfter: pair.notAfter.toISOString() }, 'serving certificate reloaded');
    } catch (error) {
      this.rejected = fingerprint;
      logger.warn(
        { err: error },
        'the new TLS files are not a valid pair; keeping the current certificate',
      );
    }
  }
}

function fingerprintOf(cert: Buffer, key: Buffer): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}

import type { Server } from 'node:http';

/**
 * Counts requests in flight on a server. Shutdown waits for them, then drops the connections
 * that remain: the API server keeps spare connections open that never carry a request, and
 * Node only reaps those after its header timeout, long after the pod should be gone.
 */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly server: Server) {
    server.on('request', (_request, response) => {
      this.count++;
      response.once('close', () => {
        this.count--;
        if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
      });
    });
  }

  /** Resolves when no request is in flight, or after `timeoutMs`, whichever is first. */
  drained(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Stops accepting (via `close`), lets requests in flight finish, then drops every connection. */
  async closeAfterDrain(close: () => Promise<void>, timeoutMs: number): Promise<void> {
    const closed = close();
    await this.drained(timeoutMs);
    this.server.closeAllConnections();
    await closed;
  }
}

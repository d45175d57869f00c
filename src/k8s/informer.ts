import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiMessage } from './errors.js';

interface InformerHandlers<T> {
  add?: (object: T) => void;
  update?: (object: T) => void;
  delete?: (object: T) => void;
}

export interface SupervisedInformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The watch path, e.g. `/apis/kubeflow.org/v1/profiles`. */
  path: string;
  list: ListPromise<T>;
  fieldSelector?: string | undefined;
  /** For logs: what is watched. */
  name: string;
  logger: Logger;
  handlers: InformerHandlers<T>;
  /**
   * What is kept of each object, listed or watched, before the cache and the handlers see it:
   * the cache holds every object for as long as the informer runs.
   */
  transform?: ((object: T) => T) | undefined;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * client-node's ListWatch with the supervision it leaves to its user. It re-watches by itself
 * after a watch timeout (its 30 s inactivity timer catches a hung connection) or a 410, but any
 * other failure of a list or watch stops it for good and only calls the error handlers: an
 * informer left alone then goes silent. This one restarts it with capped exponential backoff,
 * from the last resourceVersion, so the cache and its events carry on.
 */
export class SupervisedInformer<T extends KubernetesObject> {
  private readonly informer: ListWatch<T>;
  private readonly logger: Logger;
  private readonly name: string;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private stopped = false;
  private starting = false;
  private failures = 0;
  private errors = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(options: SupervisedInformerOptions<T>) {
    this.logger = options.logger;
    this.name = options.name;
    this.minBackoffMs = options.minBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    const transform = options.transform;
    this.informer = new ListWatch(
      options.path,
      transform === undefined
        ? new Watch(options.kubeConfig)
        : new TransformingWatch(options.kubeConfig, transform),
      transform === undefined
        ? options.list
        : async () => {
            const list = await options.list();
            return { ...list, items: list.items.map(transform) };
          },
      false,
      undefined,
      options.fieldSelector,
    );
    // The library calls handlers inside its line parser and swallows what they throw, losing
    // the event's resourceVersion with it: a handler here never throws.
    for (const verb of ['add', 'update', 'delete'] as const) {
      const handler = options.handlers[verb];
      if (handler === undefined) continue;
      this.informer.on(verb, (object) => {
        try {
          handler(object);
        } catch (err) {
          this.logger.error({ err, informer: this.name, verb }, 'informer event handler failed');
        }
      });
    }
    this.informer.on('error', (err) => this.failed(err));
  }

  /** What the informer holds now (for logs and tests; decisions read the API server). */
  list(): readonly T[] {
    return this.informer.list();
  }

  /**
   * Lists, delivers every object as `add`, and starts watching; resolves once that first list is
   * in (the cache is synced). Failures are retried with backoff until `signal` aborts.
   */
  async start(signal: AbortSignal): Promise<void> {
    this.stopped = false;
    this.starting = true;
    try {
      while (!signal.aborted) {
        const before = this.errors;
        await this.informer.start();
        if (this.errors === before) {
          this.failures = 0;
          this.logger.debug({ informer: this.name }, 'informer synced');
          return;
        }
        await sleep(this.nextBackoff(), undefined, { signal }).catch(() => undefined);
      }
      throw signal.reason ?? new Error('aborted');
    } finally {
      this.starting = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.informer.stop();
  }

  private failed(err: unknown): void {
    // stop() aborts the watch, which the library reports as one more error.
    if (this.stopped) return;
    this.errors++;
    const delayMs = this.starting ? undefined : this.nextBackoff();
    this.logger.warn(
      { informer: this.name, error: apiMessage(err), retryInMs: delayMs },
      'list or watch failed; restarting the informer',
    );
    if (this.starting) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      const before = this.errors;
      void this.informer.start().then(() => {
        if (this.errors === before) this.failures = 0;
      });
    }, delayMs);
    this.restartTimer.unref();
  }

  private nextBackoff(): number {
    const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** this.failures);
    this.failures++;
    return delay;
  }
}

/** A watch whose events carry the transformed object (the event's raw copy is dropped). */
class TransformingWatch<T> extends Watch {
  constructor(
    kubeConfig: KubeConfig,
    private readonly transform: (object: T) => T,
  ) {
    super(kubeConfig);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase, object: unknown) =>
        // ERROR and BOOKMARK events carry a Status or a bare resourceVersion: passed as they are.
        callback(
          phase,
          phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED'
            ? this.transform(object as T)
            : object,
        ),
      done,
    );
  }
}

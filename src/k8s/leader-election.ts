// Leader election through one coordination.k8s.io/v1 Lease, after client-go's leaderelection:
// candidates read the Lease every retry period (jittered) and take it once it is free or its
// record has not changed for its lease duration by their own monotonic clock; the leader renews
// every retry period and, when no renewal has succeeded for the renew deadline, stops leading.
// Every write is guarded by the resourceVersion last read, so of two writers one gets a 409.
//
// Safety rests on lease duration > renew deadline: a leader that cannot renew gives up (its
// lead signal aborts) by renewDeadline after its last successful write was sent, while nobody
// else may take the Lease until leaseDuration after they saw that write. The difference is the
// time the guarded work has to stop once its signal aborts.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  decideLease,
  electionTimingProblems,
  JITTER_FACTOR,
  observe,
  releasedRecord,
  renewedRecord,
  type Observation,
} from '../core/lease-decision.js';
import { apiMessage } from './errors.js';
import { LeaseClient, LeaseConflictError, type LeaseSnapshot } from './lease-client.js';
import { MicroClock } from './micro-clock.js';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Lease name. */
  name: string;
  /** Unique among the candidates, e.g. pod name + random suffix. */
  identity: string;
  logger: Logger;
  /** How long candidates wait for a record that does not change. Whole seconds. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it stops leading. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts (candidates add up to 120 % jitter). Default 2 s. */
  retryPeriodMs?: number;
  /** Called on every change of isLeader(), e.g. for a leader gauge. */
  onLeadingChange?: (leading: boolean) => void;
  /**
   * Asked before every renewal: while the guarded work is stuck (false), the Lease is not
   * renewed, so leadership ends at the renew deadline and another candidate takes over.
   */
  isProgressing?: () => boolean;
}

/** The reason a lead signal aborts when leadership is lost (rather than stopped). */
export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

const DEFAULT_LEASE_DURATION_MS = 15_000;
const DEFAULT_RENEW_DEADLINE_MS = 10_000;
const DEFAULT_RETRY_PERIOD_MS = 2_000;

/** client-go's convention: the host (pod) name and a random suffix, so a restart is a new holder. */
export function electionIdentity(name: string = hostname()): string {
  return `${name}_${randomUUID()}`;
}

type Attempt = { kind: 'holding' } | { kind: 'held-by-other'; holder: string } | { kind: 'failed' };

export class LeaderElector {
  readonly #client: LeaseClient;
  readonly #identity: string;
  readonly #logger: Logger;
  readonly #leaseDurationSeconds: number;
  readonly #renewDeadlineMs: number;
  /**
   * The longest one attempt may take: half of what the deadline leaves after a retry period. A
   * request stuck on a dead connection would otherwise use up the whole renew deadline; cut
   * short, another attempt on a new connection still fits in it (when the deadline is at least
   * three retry periods, as with the defaults).
   */
  readonly #attemptTimeoutMs: number;
  readonly #retryPeriodMs: number;
  readonly #onLeadingChange: ((leading: boolean) => void) | undefined;
  readonly #isProgressing: () => boolean;
  readonly #clock = new MicroClock();
  /** The record as last seen, and since when (local monotonic ms). */
  #observation: Observation | undefined;
  /** The Lease as we last wrote it, while it names us. */
  #held: LeaseSnapshot | undefined;
  /** Local monotonic ms at which the last successful write was sent. */
  #lastWriteSentMs = 0;
  #leadSignal: AbortSignal | undefined;
  #reportedLeader: string | undefined;
  #running = false;

  constructor(options: LeaderElectionOptions) {
    const timings = {
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS,
      renewDeadlineMs: options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS,
      retryPeriodMs: options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS,
    };
    const problems = electionTimingProblems(timings);
    for (const [field, value] of Object.entries({
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
    })) {
      if (value === '') problems.push(`${field} must not be empty`);
    }
    if (problems.length > 0) throw new RangeError(`leader election: ${problems.join('; ')}`);
    this.#client = new LeaseClient(options.kubeConfig, options.namespace, options.name);
    this.#identity = options.identity;
    this.#leaseDurationSeconds = timings.leaseDurationMs / 1000;
    this.#renewDeadlineMs = timings.renewDeadlineMs;
    this.#attemptTimeoutMs = Math.ceil(
      Math.max(timings.retryPeriodMs, (timings.renewDeadlineMs - timings.retryPeriodMs) / 2),
    );
    this.#retryPeriodMs = timings.retryPeriodMs;
    this.#onLeadingChange = options.onLeadingChange;
    this.#isProgressing = options.isProgressing ?? (() => true);
    this.#logger = options.logger.child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  /**
   * Campaigns until `signal` aborts. While leading, runs `lead(leadSignal)`; leadSignal aborts when
   * leadership is lost or `signal` aborts. After lead() has settled, releases the lease (if held)
   * and, unless `signal` aborted, campaigns again. Resolves once stopped and released.
   */
  async run(lead: (leadSignal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error('LeaderElector.run is already running');
    this.#running = true;
    try {
      while (!signal.aborted) {
        if ((await this.#campaign(signal)) && !signal.aborted) await this.#lead(lead, signal);
        await this.#release();
        // Not straight back: a lead() that keeps ending at once must not spin on the API server.
        // Each wait ends early when its signal aborts, and the loop then sees that signal.
        await sleep(this.#jitteredRetryPeriodMs(), undefined, { signal }).catch(() => undefined);
      }
    } finally {
      this.#running = false;
    }
  }

  /** From acquiring the Lease until the lead signal aborts (lost, stopped, or lead() ended). */
  isLeader(): boolean {
    return this.#leadSignal !== undefined && !this.#leadSignal.aborted;
  }

  /** Until the Lease is ours (true) or `signal` aborts (false). */
  async #campaign(signal: AbortSignal): Promise<boolean> {
    this.#logger.info('campaigning for leadership');
    while (!signal.aborted) {
      // A read can be dropped at once on stop; a write runs to its timeout, so that a Lease
      // taken at the last moment is known, and released.
      const timeout = AbortSignal.timeout(this.#attemptTimeoutMs);
      const attempt = await this.#attempt(AbortSignal.any([signal, timeout]), timeout);
      if (attempt.kind === 'holding') return true;
      await sleep(this.#jitteredRetryPeriodMs(), undefined, { signal }).catch(() => undefined);
    }
    return false;
  }

  async #lead(
    lead: (leadSignal: AbortSignal) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const leading = new AbortController();
    // Renewals go on after `signal` aborts, for as long as the guarded work may still act; they
    // end only when leadership is lost.
    const renewals = new AbortController();
    const lose = (reason: string): void => {
      renewals.abort();
      if (leading.signal.aborted) return;
      this.#logger.warn({ reason }, 'leadership lost; stopping the guarded work');
      leading.abort(new LeadershipLostError(`leadership of the Lease lost: ${reason}`));
    };
    const stop = (): void => leading.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });

    let deadlineMs = 0;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const renewed = (): void => {
      deadlineMs = this.#lastWriteSentMs + this.#renewDeadlineMs;
      clearTimeout(deadlineTimer);
      deadlineTimer = setTimeout(
        () => lose(`not renewed for the renew deadline (${this.#renewDeadlineMs} ms)`),
        Math.max(0, deadlineMs - performance.now()),
      );
    };
    renewed();

    this.#leadSignal = leading.signal;
    this.#logger.info({ leaseTransitions: this.#held?.record.leaseTransitions }, 'leading');
    this.#notify(true);
    leading.signal.addEventListener('abort', () => this.#notify(false), { once: true });

    const settled = new AbortController();
    const work = (async () => lead(leading.signal))().then(
      () => this.#logger.info('guarded work settled'),
      (err: unknown) => this.#logger.error({ err }, 'guarded work failed'),
    );
    void work.finally(() => settled.abort());

    while (!settled.signal.aborted) {
      await sleep(this.#retryPeriodMs, undefined, { signal: settled.signal }).catch(
        () => undefined,
      );
      if (settled.signal.aborted || renewals.signal.aborted) continue;
      if (!this.#isProgressing()) {
        this.#logger.warn('the guarded work is stuck; not renewing the Lease');
        continue;
      }
      const requestSignal = AbortSignal.any([
        renewals.signal,
        AbortSignal.timeout(
          Math.max(1, Math.ceil(Math.min(this.#attemptTimeoutMs, deadlineMs - performance.now()))),
        ),
      ]);
      const attempt = await this.#attempt(requestSignal, requestSignal);
      if (renewals.signal.aborted) continue;
      if (attempt.kind === 'holding') renewed();
      else if (attempt.kind === 'held-by-other') lose(`the Lease is held by ${attempt.holder}`);
    }

    clearTimeout(deadlineTimer);
    signal.removeEventListener('abort', stop);
    leading.abort(new Error('the guarded work ended'));
    this.#leadSignal = undefined;
  }

  /** One acquire-or-renew, client-go's tryAcquireOrRenew. */
  async #attempt(readSignal: AbortSignal, writeSignal: AbortSignal): Promise<Attempt> {
    const held = this.#held;
    if (held !== undefined) {
      // The holder's fast path: write over the Lease as it last wrote it, without reading.
      try {
        await this.#write(writeSignal, (signal) =>
          this.#client.replace(
            held,
            renewedRecord(held.record, this.#leaseDurationSeconds, this.#clock.now()),
            signal,
          ),
        );
        this.#logger.debug('renewed');
        return { kind: 'holding' };
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) return this.#failed('renew', err, writeSignal);
        this.#logger.debug('the Lease changed since our last write; reading it');
      }
    }
    // A 409 means someone else wrote first: read again, once, to see who.
    for (let pass = 0; pass < 2; pass++) {
      let current: LeaseSnapshot | undefined;
      try {
        current = await this.#client.read(readSignal);
      } catch (err) {
        return this.#failed('read', err, readSignal);
      }
      const step = decideLease({
        identity: this.#identity,
        leaseDurationSeconds: this.#leaseDurationSeconds,
        state:
          current === undefined
            ? { kind: 'absent' }
            : { kind: 'present', record: current.record, resourceVersion: current.resourceVersion },
        previous: this.#observation,
        nowMs: performance.now(),
        now: this.#clock.now(),
      });
      this.#observation = step.observation;
      const decision = step.decision;
      if (decision.kind === 'wait') {
        this.#held = undefined;
        this.#reportLeader(decision.holder);
        this.#logger.debug(
          { holder: decision.holder, expiresInMs: Math.round(decision.expiresInMs) },
          'the Lease is held by another candidate',
        );
        return { kind: 'held-by-other', holder: decision.holder };
      }
      try {
        const written = await this.#write(writeSignal, (signal) =>
          decision.kind === 'create' || current === undefined
            ? this.#client.create(decision.record, signal)
            : this.#client.replace(current, decision.record, signal),
        );
        if (decision.kind === 'create' || decision.acquiring) {
          this.#logger.info(
            {
              leaseTransitions: written.record.leaseTransitions,
              created: decision.kind === 'create',
            },
            'acquired the Lease',
          );
        }
        return { kind: 'holding' };
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) return this.#failed('write', err, writeSignal);
        this.#logger.debug({ pass }, 'another candidate wrote the Lease first (409)');
      }
    }
    return { kind: 'failed' };
  }

  async #write(
    signal: AbortSignal,
    request: (signal: AbortSignal) => Promise<LeaseSnapshot>,
  ): Promise<LeaseSnapshot> {
    const sentMs = performance.now();
    const written = await request(signal);
    this.#lastWriteSentMs = sentMs;
    this.#remember(written);
    return written;
  }

  #remember(written: LeaseSnapshot): void {
    this.#held = written.record.holderIdentity === this.#identity ? written : undefined;
    this.#observation = observe(this.#observation, written.record, performance.now());
    this.#reportLeader(written.record.holderIdentity);
  }

  /**
   * client-go's ReleaseOnCancel, run only once the guarded work has settled: the Lease is
   * written with no holder so that the next candidate takes it at once. Bounded by the renew
   * deadline; the resourceVersion guard keeps it from undoing a newer holder's write.
   */
  async #release(): Promise<void> {
    let base = this.#held;
    if (base === undefined) return;
    const signal = AbortSignal.timeout(this.#renewDeadlineMs);
    try {
      for (let pass = 0; pass < 2 && base !== undefined; pass++) {
        const current: LeaseSnapshot = base;
        try {
          await this.#write(signal, (s) =>
            this.#client.replace(current, releasedRecord(current.record, this.#clock.now()), s),
          );
          this.#logger.info('released the Lease');
          return;
        } catch (err) {
          if (!(err instanceof LeaseConflictError)) throw err;
          const latest = await this.#client.read(signal);
          base = latest?.record.holderIdentity === this.#identity ? latest : undefined;
        }
      }
    } catch (err) {
      this.#logger.warn(
        { error: apiMessage(err) },
        'could not release the Lease; another candidate takes it once it expires',
      );
    } finally {
      this.#held = undefined;
    }
  }

  #failed(what: string, err: unknown, signal: AbortSignal): Attempt {
    // Cancelled because we are stopping or have lost leadership: expected, not a fault.
    const cancelled =
      signal.aborted && (signal.reason as Error | undefined)?.name !== 'TimeoutError';
    if (cancelled) this.#logger.debug(`Lease ${what} cancelled`);
    else this.#logger.warn({ error: apiMessage(err) }, `Lease ${what} failed`);
    return { kind: 'failed' };
  }

  #reportLeader(holder: string): void {
    if (holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    if (holder !== '' && holder !== this.#identity) this.#logger.info({ holder }, 'new leader');
  }

  #jitteredRetryPeriodMs(): number {
    return this.#retryPeriodMs * (1 + Math.random() * JITTER_FACTOR);
  }

  #notify(leading: boolean): void {
    try {
      this.#onLeadingChange?.(leading);
    } catch (err) {
      this.#logger.error({ err }, 'onLeadingChange failed');
    }
  }
}

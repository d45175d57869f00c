import {
  EventsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type EventsV1Event,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import PQueue from 'p-queue';
import { EventCorrelator, type EventIntent, type EventRecord } from '../core/event-correlator.js';
import type { Metrics } from '../metrics/registry.js';
import { apiMessage, statusOf } from './errors.js';
import { MicroClock } from './micro-clock.js';
import { makeApiClient, withSignal } from './api-client.js';
import { wireMicroTime } from './micro-time.js';

/**
 * The namespace of Events about cluster-scoped objects such as Profiles. The API server accepts
 * an events.k8s.io Event whose `regarding` has no namespace only in `default` or `kube-system`,
 * and `kubectl events --for` looks in the context's namespace (`default` unless set), while
 * `kubectl describe` searches all namespaces: `default` is the one both find (client-go's choice).
 */
const CLUSTER_SCOPED_EVENTS_NAMESPACE = 'default';

export interface EventRecorderOptions {
  kubeConfig: KubeConfig;
  /** `reportingController`: a qualified name, the same for every replica. */
  reportingController: string;
  /** `reportingInstance`: this replica (its pod name). */
  reportingInstance: string;
  metrics: Metrics;
  logger: Logger;
  namespace?: string;
  correlator?: EventCorrelator;
  clock?: MicroClock;
  /** Per API call. */
  timeoutMs?: number;
  /** Writes waiting beyond this are dropped (client-go keeps 1000). */
  maxQueued?: number;
}

/** Anything that takes events; the reconciler is given one and never waits for it. */
export interface EventSink {
  record(intent: EventIntent): void;
}

/**
 * Writes Events through the events.k8s.io/v1 API, deduplicated and rate-limited by an
 * EventCorrelator. Recording never blocks and never throws: writes go through a queue, one at a
 * time, each bounded by a timeout; a failed write is logged and counted, not retried (an Event
 * is a report, and the next occurrence writes it again).
 */
export class EventRecorder implements EventSink {
  readonly #api: EventsV1Api;
  readonly #options: EventRecorderOptions;
  readonly #namespace: string;
  readonly #correlator: EventCorrelator;
  readonly #clock: MicroClock;
  readonly #queue = new PQueue({ concurrency: 1 });
  readonly #maxQueued: number;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#api = makeApiClient(options.kubeConfig, EventsV1Api);
    this.#namespace = options.namespace ?? CLUSTER_SCOPED_EVENTS_NAMESPACE;
    this.#correlator = options.correlator ?? new EventCorrelator();
    this.#clock = options.clock ?? new MicroClock();
    this.#maxQueued = options.maxQueued ?? 1000;
  }

  record(intent: EventIntent): void {
    const { metrics, logger } = this.#options;
    const correlation = this.#correlator.observe(intent, this.#clock.nowMicros());
    const count = (result: string) => metrics.events.inc({ reason: intent.reason, result });
    if (correlation.kind === 'rate-limited') {
      count('rate_limited');
      return;
    }
    if (this.#queue.size >= this.#maxQueued) {
      count('dropped');
      if (correlation.kind === 'create') this.#correlator.forget(correlation.record.key);
      return;
    }
    const { record } = correlation;
    void this.#queue.add(async () => {
      try {
        const result =
          correlation.kind === 'create' ? await this.#create(record) : await this.#patch(record);
        count(result);
      } catch (err) {
        count('failed');
        // A series whose object could not be made would patch nothing: start over next time.
        if (correlation.kind === 'create') this.#correlator.forget(record.key);
        logger.warn(
          { err: apiMessage(err), reason: intent.reason, regarding: intent.regarding.name },
          'could not write an Event',
        );
      }
    });
  }

  /** Resolves once every write queued so far has finished. */
  async flush(): Promise<void> {
    await this.#queue.onIdle();
  }

  /** Drops the writes not yet started and waits for the one in flight (bounded by its timeout). */
  async close(): Promise<void> {
    this.#queue.clear();
    await this.#queue.onIdle();
  }

  async #create(record: EventRecord): Promise<'created'> {
    await this.#api.createNamespacedEvent(
      { namespace: this.#namespace, body: this.#body(record) },
      withSignal(AbortSignal.timeout(this.#timeoutMs)),
    );
    return 'created';
  }

  /** Only the series moves; an Event the API server has let expire is made again (client-go). */
  async #patch(record: EventRecord): Promise<'patched' | 'created'> {
    try {
      await this.#api.patchNamespacedEvent(
        { namespace: this.#namespace, name: record.name, body: { series: record.series } },
        setHeaderOptions(
          'Content-Type',
          PatchStrategy.MergePatch,
          withSignal(AbortSignal.timeout(this.#timeoutMs)),
        ),
      );
      return 'patched';
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return this.#create(record);
    }
  }

  get #timeoutMs(): number {
    return this.#options.timeoutMs ?? 10_000;
  }

  #body(record: EventRecord): EventsV1Event {
    const { intent } = record;
    const { regarding } = intent;
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: record.name, namespace: this.#namespace },
      eventTime: wireMicroTime(record.eventTime),
      ...(record.series === undefined
        ? {}
        : {
            series: {
              count: record.series.count,
              lastObservedTime: wireMicroTime(record.series.lastObservedTime),
            },
          }),
      reportingController: this.#options.reportingController,
      reportingInstance: this.#options.reportingInstance,
      action: intent.action,
      reason: intent.reason,
      type: intent.type,
      note: intent.note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.name,
        ...(regarding.uid === undefined ? {} : { uid: regarding.uid }),
      },
    };
  }
}

// The one Lease the leader election uses, read and written through @kubernetes/client-node
// (MicroTime timestamps through micro-time.ts).

import {
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  type V1LeaseSpec,
} from '@kubernetes/client-node';
import type { LeaseRecord } from '../core/lease-decision.js';
import { makeApiClient, withSignal } from './api-client.js';
import { isNotFound, statusOf } from './errors.js';
import { wireMicroTime } from './micro-time.js';

/** Another writer got there first (409: the Lease exists, or its resourceVersion moved on). */
export class LeaseConflictError extends Error {
  override readonly name = 'LeaseConflictError';
}

/** A Lease as read (or as the API server answered a write), with its election record. */
export interface LeaseSnapshot {
  record: LeaseRecord;
  resourceVersion: string;
  object: V1Lease;
}

export class LeaseClient {
  readonly #api: CoordinationV1Api;
  readonly namespace: string;
  readonly name: string;

  constructor(kubeConfig: KubeConfig, namespace: string, name: string) {
    this.#api = makeApiClient(kubeConfig, CoordinationV1Api);
    this.namespace = namespace;
    this.name = name;
  }

  /** undefined when there is no such Lease. */
  async read(signal: AbortSignal): Promise<LeaseSnapshot | undefined> {
    try {
      const lease = await this.#api.readNamespacedLease(
        { namespace: this.namespace, name: this.name },
        withSignal(signal),
      );
      return snapshot(lease);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<LeaseSnapshot> {
    const body: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace },
      spec: toSpec(record),
    };
    return snapshot(
      await conflictsTyped(
        this.#api.createNamespacedLease({ namespace: this.namespace, body }, withSignal(signal)),
      ),
    );
  }

  /**
   * Writes `record` over the Lease as last seen in `base`, guarded by its resourceVersion. The
   * rest of the object (labels, annotations, finalizers) is sent back as read.
   */
  async replace(
    base: LeaseSnapshot,
    record: LeaseRecord,
    signal: AbortSignal,
  ): Promise<LeaseSnapshot> {
    const body: V1Lease = {
      ...base.object,
      metadata: { ...base.object.metadata, resourceVersion: base.resourceVersion },
      spec: toSpec(record),
    };
    return snapshot(
      await conflictsTyped(
        this.#api.replaceNamespacedLease(
          { namespace: this.namespace, name: this.name, body },
          withSignal(signal),
        ),
      ),
    );
  }
}

async function conflictsTyped(request: Promise<V1Lease>): Promise<V1Lease> {
  try {
    return await request;
  } catch (err) {
    if (statusOf(err) === 409) {
      throw new LeaseConflictError('the Lease was written by someone else first', { cause: err });
    }
    throw err;
  }
}

function toSpec(record: LeaseRecord): V1LeaseSpec {
  const spec: V1LeaseSpec = { leaseTransitions: record.leaseTransitions };
  // An empty holder is written as no holder, as client-go does when it releases.
  if (record.holderIdentity !== '') spec.holderIdentity = record.holderIdentity;
  if (record.leaseDurationSeconds !== undefined) {
    spec.leaseDurationSeconds = record.leaseDurationSeconds;
  }
  if (record.acquireTime !== undefined) spec.acquireTime = wireMicroTime(record.acquireTime);
  if (record.renewTime !== undefined) spec.renewTime = wireMicroTime(record.renewTime);
  return spec;
}

function snapshot(lease: V1Lease): LeaseSnapshot {
  const resourceVersion = lease.metadata?.resourceVersion;
  if (!resourceVersion) throw new Error('the API server returned a Lease without resourceVersion');
  return { record: toRecord(lease.spec), resourceVersion, object: lease };
}

function toRecord(spec: V1LeaseSpec | undefined): LeaseRecord {
  return {
    holderIdentity: spec?.holderIdentity ?? '',
    leaseDurationSeconds: spec?.leaseDurationSeconds,
    acquireTime: microTimeText(spec?.acquireTime),
    renewTime: microTimeText(spec?.renewTime),
    leaseTransitions: spec?.leaseTransitions ?? 0,
  };
}

/**
 * The MicroTime as the API server sent it. client-node hands the JSON string through despite its
 * V1MicroTime type; should a later version turn it into a Date, only its milliseconds are left,
 * which still serves as a change marker.
 */
function microTimeText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  return undefined;
}

// What a leader-election candidate does next, from the Lease it has just read, after client-go's
// leaderelection: a Lease held by someone else expires a lease duration after this process LAST
// SAW IT CHANGE, by its own monotonic clock. The remote renewTime is never compared with a local
// clock, so a holder whose clock is wrong (or a hand-written timestamp) cannot shorten or stretch
// anyone's wait; only a change of the record counts as a renewal.

/** The election fields of a coordination.k8s.io/v1 Lease's spec, as read or to be written. */
export interface LeaseRecord {
  /** '' when nobody holds the Lease (never acquired, or released). */
  holderIdentity: string;
  /** What the holder promised; undefined when the Lease does not say (made by hand). */
  leaseDurationSeconds: number | undefined;
  /** MicroTime strings, as they are on the wire. */
  acquireTime: string | undefined;
  renewTime: string | undefined;
  leaseTransitions: number;
}

type LeaseState =
  { kind: 'absent' } | { kind: 'present'; record: LeaseRecord; resourceVersion: string };

/** A record as last read, and the local monotonic time (ms) at which it was first read so. */
export interface Observation {
  record: LeaseRecord;
  key: string;
  sinceMs: number;
}

export interface CampaignInput {
  identity: string;
  /** The duration this candidate writes when it holds the Lease. */
  leaseDurationSeconds: number;
  state: LeaseState;
  previous: Observation | undefined;
  /** Local monotonic clock, ms. */
  nowMs: number;
  /** Local wall clock as a MicroTime, for the timestamps written. */
  now: string;
}

type LeaseDecision =
  /** No Lease yet: create it, held by us (a 409 means another candidate created it first). */
  | { kind: 'create'; record: LeaseRecord }
  /**
   * Write `record` guarded by `resourceVersion`: a renewal when we hold the Lease, an acquisition
   * (`acquiring`) when it is free or expired. A 409 means someone else wrote first.
   */
  | { kind: 'update'; record: LeaseRecord; resourceVersion: string; acquiring: boolean }
  /** Held by someone else and not expired by our observation. */
  | { kind: 'wait'; holder: string; expiresInMs: number };

export interface CampaignStep {
  decision: LeaseDecision;
  /** What to remember for the next read (undefined while there is no Lease). */
  observation: Observation | undefined;
}

/** client-go's JitterFactor: candidates wait retryPeriod × [1, 1 + 1.2) between attempts. */
export const JITTER_FACTOR = 1.2;

export function recordKey(record: LeaseRecord): string {
  return JSON.stringify([
    record.holderIdentity,
    record.leaseDurationSeconds ?? null,
    record.acquireTime ?? null,
    record.renewTime ?? null,
    record.leaseTransitions,
  ]);
}

/** Keeps the previous observation while the record is unchanged, so its age keeps growing. */
export function observe(
  previous: Observation | undefined,
  record: LeaseRecord,
  nowMs: number,
): Observation {
  const key = recordKey(record);
  if (previous !== undefined && previous.key === key) return previous;
  return { record, key, sinceMs: nowMs };
}

/** The next step of a candidate (or of the leader, whose renewals go through the same rules). */
export function decideLease(input: CampaignInput): CampaignStep {
  const { identity, state, nowMs, now } = input;
  if (state.kind === 'absent') {
    return {
      decision: { kind: 'create', record: freshRecord(input, 0) },
      observation: undefined,
    };
  }
  const { record, resourceVersion } = state;
  const observation = observe(input.previous, record, nowMs);
  if (record.holderIdentity === identity) {
    return {
      decision: {
        kind: 'update',
        record: renewedRecord(record, input.leaseDurationSeconds, now),
        resourceVersion,
        acquiring: false,
      },
      observation,
    };
  }
  if (record.holderIdentity !== '') {
    const expiresInMs = observation.sinceMs + heldForMs(record, input.leaseDurationSeconds) - nowMs;
    if (expiresInMs > 0) {
      return {
        decision: { kind: 'wait', holder: record.holderIdentity, expiresInMs },
        observation,
      };
    }
  }
  return {
    decision: {
      kind: 'update',
      record: freshRecord(input, record.leaseTransitions + 1),
      resourceVersion,
      acquiring: true,
    },
    observation,
  };
}

/** The record a holder writes to stay leader: its acquireTime and transitions kept. */
export function renewedRecord(
  held: LeaseRecord,
  leaseDurationSeconds: number,
  now: string,
): LeaseRecord {
  return {
    holderIdentity: held.holderIdentity,
    leaseDurationSeconds,
    acquireTime: held.acquireTime ?? now,
    renewTime: now,
    leaseTransitions: held.leaseTransitions,
  };
}

/**
 * What a holder writes to give the Lease up (client-go's ReleaseOnCancel): no holder, so the
 * next candidate takes it at once, and a one-second duration for readers that only look at it.
 */
export function releasedRecord(held: LeaseRecord, now: string): LeaseRecord {
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: now,
    renewTime: now,
    leaseTransitions: held.leaseTransitions,
  };
}

/** How long the holder's promise lasts: its own leaseDurationSeconds, else ours. */
function heldForMs(record: LeaseRecord, ourSeconds: number): number {
  const seconds = record.leaseDurationSeconds;
  return (
    (seconds !== undefined && Number.isInteger(seconds) && seconds > 0 ? seconds : ourSeconds) *
    1000
  );
}

function freshRecord(input: CampaignInput, leaseTransitions: number): LeaseRecord {
  return {
    holderIdentity: input.identity,
    leaseDurationSeconds: input.leaseDurationSeconds,
    acquireTime: input.now,
    renewTime: input.now,
    leaseTransitions,
  };
}

export interface ElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/**
 * client-go's rules, plus whole seconds for the lease duration (the Lease holds whole seconds,
 * and candidates wait what the Lease says). Empty when the timings are usable.
 */
export function electionTimingProblems(timings: ElectionTimings): string[] {
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = timings;
  const problems: string[] = [];
  if (!Number.isInteger(leaseDurationMs / 1000) || leaseDurationMs < 1000) {
    problems.push(`lease duration must be a whole number of seconds, got ${leaseDurationMs} ms`);
  }
  if (!(retryPeriodMs > 0)) problems.push(`retry period must be positive, got ${retryPeriodMs} ms`);
  if (!(renewDeadlineMs > JITTER_FACTOR * retryPeriodMs)) {
    problems.push(
      `renew deadline (${renewDeadlineMs} ms) must exceed ${JITTER_FACTOR} × retry period (${retryPeriodMs} ms)`,
    );
  }
  if (!(leaseDurationMs > renewDeadlineMs)) {
    problems.push(
      `lease duration (${leaseDurationMs} ms) must exceed the renew deadline (${renewDeadlineMs} ms)`,
    );
  }
  return problems;
}

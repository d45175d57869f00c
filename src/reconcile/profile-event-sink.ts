import { LRUCache } from 'lru-cache';
import { fieldPath } from '../core/json.js';
import { profileEvents } from '../core/profile-events.js';
import type { ObjectRef } from '../core/event-correlator.js';
import type { ObservedProfile } from '../core/reconcile-observed.js';
import type { NamespacePlan } from '../core/reconcile-plan.js';
import type { ActionOutcome } from '../core/reconcile-report.js';
import type { EventSink } from '../k8s/event-recorder.js';
import { PROFILES } from '../k8s/profiles.js';

/** Where the reconciler reports on Profiles; it calls this once per namespace it looked at. */
export interface ReconcileEventSink {
  /**
   * What the plan found and, when something was attempted, what became of it. `profile` is the
   * Profile as observed, undefined when it is gone.
   */
  record(
    plan: NamespacePlan,
    outcomes: readonly ActionOutcome[] | undefined,
    profile: ObservedProfile | undefined,
  ): void;
}

/**
 * Events regarding the Profile, with its UID so that `kubectl describe profile` finds them. A
 * Profile that is gone is referred to by the UID it had when last seen (if this process saw it),
 * so the Events of its role's deletion stay with its earlier ones.
 */
export class ProfileEventSink implements ReconcileEventSink {
  readonly #events: EventSink;
  readonly #uids = new LRUCache<string, string>({ max: 4096 });

  constructor(events: EventSink) {
    this.#events = events;
  }

  record(
    plan: NamespacePlan,
    outcomes: readonly ActionOutcome[] | undefined,
    profile: ObservedProfile | undefined,
  ): void {
    const events = profileEvents(plan, outcomes);
    const regarding = this.#regarding(plan.namespace, profile);
    for (const event of events) this.#events.record({ regarding, ...event });
  }

  #regarding(name: string, profile: ObservedProfile | undefined): ObjectRef {
    const uid = profile === undefined ? undefined : fieldPath(profile.object, 'metadata', 'uid');
    if (typeof uid === 'string' && uid !== '') this.#uids.set(name, uid);
    const apiVersion = profile === undefined ? undefined : fieldPath(profile.object, 'apiVersion');
    return {
      apiVersion:
        typeof apiVersion === 'string' ? apiVersion : `${PROFILES.group}/${PROFILES.version}`,
      kind: 'Profile',
      name,
      uid: typeof uid === 'string' && uid !== '' ? uid : this.#uids.get(name),
    };
  }
}

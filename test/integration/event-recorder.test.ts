// Events on Profiles against the real kube-apiserver: which namespace the API server accepts for
// an Event about a cluster-scoped object, that the field selectors `kubectl describe` and
// `kubectl events --for` use find what the recorder writes, that a repeat patches the series of
// one object, that an expired series is made again, and that the per-object budget holds.

import t from 'tap';
import pino from 'pino';
import { CoreV1Api, EventsV1Api, type CoreV1Event } from '@kubernetes/client-node';
import { EventCorrelator, type EventIntent } from '../../src/core/event-correlator.js';
import { MICRO_TIME_PATTERN } from '../../src/core/micro-time.js';
import { EventRecorder } from '../../src/k8s/event-recorder.js';
import { statusOf } from '../../src/k8s/errors.js';
import { MicroClock } from '../../src/k8s/micro-clock.js';
import { wireMicroTime } from '../../src/k8s/micro-time.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { plainProfile, profiles } from '../../tools/dev/cluster.js';
import { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';

const cp = await startControlPlane();
t.teardown(() => cp.stop());
await installProfileCrd(cp.kubeConfig);
const kc = cp.kubeConfig;
const core = kc.makeApiClient(CoreV1Api);
const eventsApi = kc.makeApiClient(EventsV1Api);
const api = profiles(kc);
await core.createNamespace({ body: { metadata: { name: 'irsa-system' } } });

async function profileRef(name: string) {
  const created = await api.create(plainProfile(name));
  return {
    apiVersion: 'kubeflow.org/v1',
    kind: 'Profile',
    name,
    uid: created.metadata!.uid!,
  };
}

/** The list `kubectl describe profile NAME` makes: all namespaces, its four-field selector. */
async function describeEvents(ref: { name: string; uid: string }): Promise<CoreV1Event[]> {
  const list = await core.listEventForAllNamespaces({
    fieldSelector: `involvedObject.kind=Profile,involvedObject.name=${ref.name},involvedObject.namespace=,involvedObject.uid=${ref.uid}`,
    limit: 500,
  });
  return list.items;
}

/** The list `kubectl events --for profile/NAME` makes: the context's namespace (`default`). */
async function eventsFor(name: string, namespace = 'default'): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.kind=Profile,involvedObject.name=${name}`,
    limit: 500,
  });
  return list.items;
}

function recorder(options: { correlator?: EventCorrelator } = {}) {
  const metrics = createMetrics({ defaultMetrics: false });
  const rec = new EventRecorder({
    kubeConfig: kc,
    reportingController: 'profile-irsa-webhook',
    reportingInstance: 'profile-irsa-webhook-5d8f7c9b4-x2k7q',
    metrics,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  const count = async (result: string) => {
    const metric = await metrics.events.get();
    return metric.values
      .filter((v) => v.labels.result === result)
      .reduce((sum, v) => sum + v.value, 0);
  };
  return { rec, count };
}

const intent = (regarding: EventIntent['regarding'], note = 'IAM role x is in place') =>
  ({
    regarding,
    type: 'Normal',
    reason: 'RoleInPlace',
    action: 'CheckRole',
    note,
  }) satisfies EventIntent;

t.test(
  'an Event about a cluster-scoped object is taken only in default or kube-system',
  async (t) => {
    const regarding = await profileRef('team-ns');
    const clock = new MicroClock();
    const accepted: Record<string, boolean> = {};
    for (const namespace of ['default', 'kube-system', 'irsa-system']) {
      try {
        await eventsApi.createNamespacedEvent({
          namespace,
          body: {
            metadata: { name: `team-ns.${namespace}`, namespace },
            eventTime: wireMicroTime(clock.now()),
            reportingController: 'profile-irsa-webhook',
            reportingInstance: 'test',
            action: 'CheckRole',
            reason: 'RoleInPlace',
            type: 'Normal',
            note: `written to ${namespace}`,
            regarding,
          },
        });
        accepted[namespace] = true;
      } catch (err) {
        t.equal(statusOf(err), 422, `${namespace}: refused as invalid`);
        accepted[namespace] = false;
      }
    }
    t.same(accepted, { default: true, 'kube-system': true, 'irsa-system': false });
    const described = await describeEvents(regarding);
    t.same(
      described.map((e) => e.metadata?.namespace).sort(),
      ['default', 'kube-system'],
      '`kubectl describe` searches every namespace',
    );
    t.same(
      (await eventsFor('team-ns')).map((e) => e.message),
      ['written to default'],
      '`kubectl events --for` only the current one',
    );
  },
);

t.test('the recorder writes one Event both kubectl commands find', async (t) => {
  const regarding = await profileRef('team-a');
  const { rec, count } = recorder();
  rec.record(intent(regarding, `IAM role arn:aws:iam::111122223333:role/team-a is in place`));
  await rec.flush();
  t.equal(await count('created'), 1);
  const [event, ...more] = await describeEvents(regarding);
  t.same(more, []);
  t.equal(event?.metadata?.namespace, 'default');
  t.equal(event?.type, 'Normal');
  t.equal(event?.reason, 'RoleInPlace');
  t.equal(event?.action, 'CheckRole');
  t.equal(event?.message, 'IAM role arn:aws:iam::111122223333:role/team-a is in place');
  t.equal(event?.reportingComponent, 'profile-irsa-webhook');
  t.equal(event?.reportingInstance, 'profile-irsa-webhook-5d8f7c9b4-x2k7q');
  t.same(event?.involvedObject, { ...regarding });
  t.equal(event?.series, undefined);
  const raw = await eventsApi.readNamespacedEvent({
    namespace: 'default',
    name: event!.metadata.name!,
  });
  t.match(String(raw.eventTime), MICRO_TIME_PATTERN, 'eventTime in microseconds');
  t.same(
    (await eventsFor('team-a')).map((e) => e.metadata?.name),
    [event?.metadata?.name],
    'kubectl events --for profile/team-a',
  );
});

t.test('repeats patch the series of one object; an expired one is made again', async (t) => {
  const regarding = await profileRef('team-b');
  const { rec, count } = recorder();
  for (let i = 0; i < 3; i++) rec.record(intent(regarding));
  await rec.flush();
  let events = await describeEvents(regarding);
  t.equal(events.length, 1, 'one object');
  t.equal(events[0]?.series?.count, 3);
  t.match(String(events[0]?.series?.lastObservedTime), MICRO_TIME_PATTERN);
  t.equal(await count('created'), 1);
  t.equal(await count('patched'), 2);

  // The API server deletes Events an hour after their last write: the next repeat makes it anew.
  await eventsApi.deleteNamespacedEvent({ namespace: 'default', name: events[0]!.metadata.name! });
  rec.record(intent(regarding));
  await rec.flush();
  events = await describeEvents(regarding);
  t.equal(events.length, 1);
  t.equal(events[0]?.series?.count, 4, 'made again with its count');
  t.equal(await count('created'), 2);
});

t.test('a flapping Profile: past its budget nothing is written', async (t) => {
  const regarding = await profileRef('team-c');
  const { rec, count } = recorder({ correlator: new EventCorrelator({ burst: 3 }) });
  for (let i = 0; i < 20; i++) rec.record(intent(regarding, `drift ${i}`));
  await rec.flush();
  t.equal((await describeEvents(regarding)).length, 3);
  t.equal(await count('rate_limited'), 17);
});

t.test(
  'a write the API server refuses is counted, and the next one is a fresh create',
  async (t) => {
    const { rec, count } = recorder();
    // The API server refuses an action longer than 128 characters.
    const bad = { ...intent({ apiVersion: 'kubeflow.org/v1', kind: 'Profile', name: 'team-d' }) };
    rec.record({ ...bad, action: 'A'.repeat(129) });
    await rec.flush();
    t.equal(await count('failed'), 1);
    rec.record({ ...bad, action: 'A'.repeat(129) });
    await rec.flush();
    t.equal(await count('failed'), 2, 'tried again as a create, not a patch of nothing');
    t.equal(await count('patched'), 0);
  },
);

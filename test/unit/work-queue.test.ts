import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkQueue } from '../../src/reconcile/work-queue.js';

const never = new AbortController().signal;
// The queue's timers do not hold the process open (the server does, in production).
const keepAlive = setInterval(() => undefined, 1000);
t.teardown(() => clearInterval(keepAlive));

t.test('a key is queued once, in order', async (t) => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  t.equal(q.length, 2);
  t.equal(await q.get(never), 'a');
  t.equal(await q.get(never), 'b');
  q.done('a');
  q.done('b');
  t.equal(q.length, 0);
});

t.test(
  'a key added while processed is processed again afterwards, never twice at once',
  async (t) => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get(never);
    q.add('a');
    t.equal(q.length, 0, 'not queued while processing');
    q.done(key!);
    t.equal(q.length, 1, 'queued again once done');
    t.equal(await q.get(never), 'a');
  },
);

t.test('a waiting worker gets the next key at once', async (t) => {
  const q = new WorkQueue();
  const next = q.get(never);
  q.add('x');
  t.equal(await next, 'x');
});

t.test('delayed adds keep the earliest time', async (t) => {
  const q = new WorkQueue();
  q.addAfter('a', 5000);
  q.addAfter('a', 20);
  q.addAfter('a', 10_000);
  const started = Date.now();
  t.equal(await q.get(never), 'a');
  t.ok(Date.now() - started < 4000, 'the earliest time won');
  q.shutDown();
});

t.test('failures back off exponentially until forgotten', async (t) => {
  const q = new WorkQueue(30, 1000);
  q.addRateLimited('a');
  let started = Date.now();
  t.equal(await q.get(never), 'a');
  const first = Date.now() - started;
  q.done('a');
  q.addRateLimited('a');
  started = Date.now();
  t.equal(await q.get(never), 'a');
  const second = Date.now() - started;
  q.done('a');
  t.ok(first >= 25, `first retry after ~30 ms (${first})`);
  t.ok(second >= 55, `second after ~60 ms (${second})`);
  q.forget('a');
  q.addRateLimited('a');
  started = Date.now();
  t.equal(await q.get(never), 'a');
  t.ok(Date.now() - started < second, 'forgotten: back to the first delay');
  q.shutDown();
});

t.test('shutDown and abort release waiting workers', async (t) => {
  const q = new WorkQueue();
  const waiting = q.get(never);
  q.addAfter('late', 60_000);
  q.shutDown();
  t.equal(await waiting, undefined);
  q.add('after');
  t.equal(q.length, 0, 'nothing is queued after shutDown');

  const q2 = new WorkQueue();
  const stop = new AbortController();
  const pending = q2.get(stop.signal);
  stop.abort();
  t.equal(await pending, undefined);
  q2.add('b');
  await sleep(1);
  t.equal(q2.length, 1, 'an aborted wait takes no key');
});

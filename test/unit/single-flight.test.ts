import t from 'tap';
import { SingleFlight } from '../../src/iam/single-flight.js';

function deferred<T>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const never = new AbortController().signal;

t.test('callers of one key share one task; other keys run their own', async (t) => {
  const flights = new SingleFlight<string>();
  const gate = deferred<string>();
  let runs = 0;
  const task = () => {
    runs += 1;
    return gate.promise;
  };
  const a = flights.run('k', never, task);
  const b = flights.run('k', never, task);
  const c = flights.run('other', never, async () => 'own');
  gate.resolve('shared');
  t.same(await Promise.all([a, b, c]), ['shared', 'shared', 'own']);
  t.equal(runs, 1);
  t.equal(flights.inFlight, 0, 'finished flights are forgotten');
  t.equal(await flights.run('k', never, async () => 'fresh'), 'fresh', 'a later call runs anew');
});

t.test('a failure reaches every waiter and is not remembered', async (t) => {
  const flights = new SingleFlight<string>();
  const gate = deferred<string>();
  const a = flights.run('k', never, () => gate.promise);
  const b = flights.run('k', never, () => gate.promise);
  gate.reject(new Error('boom'));
  await t.rejects(a, /boom/);
  await t.rejects(b, /boom/);
  t.equal(await flights.run('k', never, async () => 'ok'), 'ok');
});

t.test('a synchronous throw rejects instead of escaping', async (t) => {
  const flights = new SingleFlight<string>();
  await t.rejects(
    flights.run('k', never, () => {
      throw new Error('sync');
    }),
    /sync/,
  );
});

t.test('an aborted waiter stops waiting; the task goes on for the others', async (t) => {
  const flights = new SingleFlight<string>();
  const gate = deferred<string>();
  let taskSignal: AbortSignal | undefined;
  const impatient = new AbortController();
  const first = flights.run('k', impatient.signal, (signal) => {
    taskSignal = signal;
    return gate.promise;
  });
  const second = flights.run('k', never, () => gate.promise);
  impatient.abort(new Error('deadline'));
  await t.rejects(first, /deadline/);
  t.equal(taskSignal?.aborted, false, 'the shared task is not cancelled');
  gate.resolve('done');
  t.equal(await second, 'done');
});

t.test('when every waiter has given up the task is cancelled and the key freed', async (t) => {
  const flights = new SingleFlight<string>();
  let taskSignal: AbortSignal | undefined;
  const a = new AbortController();
  const b = new AbortController();
  const task = (signal: AbortSignal) => {
    taskSignal = signal;
    return new Promise<string>((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason as Error));
    });
  };
  const pa = flights.run('k', a.signal, task);
  const pb = flights.run('k', b.signal, task);
  await new Promise((resolve) => setImmediate(resolve));
  a.abort();
  t.equal(taskSignal?.aborted, false);
  b.abort();
  await t.rejects(pa);
  await t.rejects(pb);
  t.equal(taskSignal?.aborted, true);
  t.equal(flights.inFlight, 0);
  t.equal(await flights.run('k', never, async () => 'new'), 'new', 'a new caller starts afresh');
});

t.test('an already aborted caller starts nothing', async (t) => {
  const flights = new SingleFlight<string>();
  let runs = 0;
  await t.rejects(
    flights.run('k', AbortSignal.abort(), async () => {
      runs += 1;
      return 'x';
    }),
  );
  t.equal(runs, 0);
});

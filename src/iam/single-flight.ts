interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
}

/**
 * At most one running task per key; later callers for the same key wait for the running one.
 *
 * Each caller brings its own AbortSignal (its admission deadline). A caller whose signal fires
 * stops waiting at once, but the shared task goes on for the callers still waiting: one short
 * deadline must not fail everyone else. The task gets its own signal, which fires only when every
 * caller has given up, so its IAM calls stay bounded by the longest deadline still waiting.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  run(key: string, signal: AbortSignal, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    let flight = this.flights.get(key);
    if (flight === undefined) {
      flight = this.start(key, task);
    }
    return this.wait(key, flight, signal);
  }

  /** Keys with a task running; for tests and diagnostics. */
  get inFlight(): number {
    return this.flights.size;
  }

  private start(key: string, task: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const controller = new AbortController();
    const flight: Flight<T> = {
      controller,
      waiters: 0,
      settled: false,
      // Deferred to a microtask so that a task which throws synchronously still rejects the
      // promise instead of escaping from run().
      promise: Promise.resolve().then(() => task(controller.signal)),
    };
    const done = (): void => {
      flight.settled = true;
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    flight.promise.then(done, done);
    this.flights.set(key, flight);
    return flight;
  }

  private wait(key: string, flight: Flight<T>, signal: AbortSignal): Promise<T> {
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        flight.waiters--;
        if (flight.waiters === 0 && !flight.settled) {
          // Nobody is waiting any more: stop the task, and let the next caller start afresh
          // rather than join a task that is being cancelled.
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort(abortReason(signal));
        }
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

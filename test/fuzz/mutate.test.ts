import t from 'tap';
import fc from 'fast-check';
import {
  checkAnswer,
  checkProvisioning,
  fuzzApp,
  fuzzParameters,
  newTally,
  reviewArb,
} from './harness.js';

// Property-based fuzzing of POST /mutate through the real fastify app (inject, no sockets).
const { app, roles } = fuzzApp();
t.teardown(() => app.close());
const tally = newTally();

t.test(
  'every review gets a well-formed answer, and IAM is asked only for valid Profiles',
  async (t) => {
    await fc.assert(
      fc.asyncProperty(reviewArb, async (generated) => {
        const before = roles.calls.length;
        const res = await app.inject({
          method: 'POST',
          url: '/mutate',
          payload: generated.text,
          headers: { 'content-type': 'application/json' },
        });
        const checked = checkAnswer(generated, res.statusCode, res.body, tally);
        const calls = roles.calls.slice(before);
        if (!checked) {
          if (calls.length > 0) throw new Error('IAM was asked for a malformed review');
          return;
        }
        checkProvisioning(generated, checked.request, checked.response, calls);
        if (calls.length > 0) tally.provisioned += 1;
      }),
      fuzzParameters(t, 4000),
    );
    t.comment(JSON.stringify(tally));
    // Not vacuous: every kind of answer occurred.
    // (The recording provider never fails, so this webhook has nothing to deny.)
    for (const key of ['malformed', 'allowed', 'patched', 'provisioned'] as const) {
      t.ok(tally[key] > 0, `some reviews were ${key}`);
    }
  },
);

import t from 'tap';
import fc from 'fast-check';
import {
  checkAnswer,
  checkValidation,
  fuzzApp,
  fuzzParameters,
  newTally,
  reviewArb,
} from './harness.js';

// Property-based fuzzing of POST /validate through the real fastify app (inject, no sockets).
const { app, roles } = fuzzApp();
t.teardown(() => app.close());
const tally = newTally();

t.test('every review gets a well-formed answer, and no foreign role is admitted', async (t) => {
  await fc.assert(
    fc.asyncProperty(reviewArb, async (generated) => {
      const res = await app.inject({
        method: 'POST',
        url: '/validate',
        payload: generated.text,
        headers: { 'content-type': 'application/json' },
      });
      const checked = checkAnswer(generated, res.statusCode, res.body, tally);
      if (checked) checkValidation(checked.request, checked.response, tally);
    }),
    fuzzParameters(t, 4000),
  );
  t.comment(JSON.stringify(tally));
  t.equal(roles.calls.length, 0, 'validation never asks IAM for anything');
  for (const key of ['malformed', 'allowed', 'denied', 'admittedPlugins'] as const) {
    t.ok(tally[key] > 0, `some reviews were ${key}`);
  }
});

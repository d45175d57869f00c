import t from 'tap';
import { jsonEqual } from '../../src/core/json.js';
import { parsePolicyDocument, policiesEqual } from '../../src/core/policy-compare.js';
import { nested, nestedJson } from '../helpers/deep.js';

// Depths past any recursion the default stack survives (a recursive walk fails near 5,000).
const DEPTHS = [10_000, 200_000];

t.test('jsonEqual compares values of any depth', async (t) => {
  for (const depth of DEPTHS) {
    t.equal(jsonEqual(nested(depth), nested(depth)), true, `${depth}: equal`);
    t.equal(jsonEqual(nested(depth, 'a'), nested(depth, 'b')), false, `${depth}: leaf differs`);
    t.equal(jsonEqual(nested(depth), nested(depth - 1)), false, `${depth}: depth differs`);
    t.equal(jsonEqual([nested(depth)], [nested(depth), 1]), false, `${depth}: length differs`);
  }
  t.equal(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 }), true);
  t.equal(jsonEqual({ a: undefined }, { b: undefined }), false, 'keys, not values, decide');
  t.equal(jsonEqual([1, 2], [2, 1]), false, 'arrays keep their order');
  t.equal(jsonEqual({}, []), false);
});

t.test('policy documents of any depth are compared without recursion', async (t) => {
  for (const depth of DEPTHS) {
    const document = (leaf: string) => ({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Condition: nested(depth, leaf) }],
    });
    t.equal(policiesEqual(document('x'), document('x')), true, `${depth}: equal`);
    t.equal(policiesEqual(document('x'), document('y')), false, `${depth}: leaf differs`);
    const text = `{"Statement":${nestedJson(depth, '"x"')}}`;
    t.equal(
      policiesEqual(parsePolicyDocument(encodeURIComponent(text)), {
        Statement: nested(depth, 'x'),
      }),
      true,
      `${depth}: as read back from IAM`,
    );
  }
  // The canonical form keeps its meaning: sets, single items, string values.
  t.ok(policiesEqual({ Action: ['b', 'a', 'a'] }, { Action: ['a', 'b'] }), 'unordered sets');
  t.ok(policiesEqual({ Action: ['a'] }, { Action: 'a' }), 'one item or the bare item');
  t.ok(policiesEqual({ Bool: true }, { Bool: 'true' }), 'values compare as strings');
  t.notOk(policiesEqual({ Action: ['a', 'b'] }, { Action: ['a'] }), 'a missing item');
  t.notOk(policiesEqual({ a: { b: 'c' } }, { a: { b: 'd' } }), 'a nested difference');
  t.notOk(policiesEqual({ a: 'b' }, { a: 'b', c: 'd' }), 'an extra key');
});

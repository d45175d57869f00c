import t from 'tap';
import { readFile } from 'node:fs/promises';
import { runBench } from '../helpers/bench.js';

/*
 * Keeps `npm run bench -- --scale N` from rotting: 50 Profiles through the local API server with
 * the webhook registered, then a reconciling replica until a steady full pass (dist/ must be
 * built, as `npm test` does first). Only correctness is asserted, never a timing: every Profile
 * got its role from admission in two IAM calls, the replica judged every role in place and bound
 * it, and each full pass read at most 2.1 IAM calls per Profile. It lasts about a minute and a
 * half: the reconciler's least interval between passes is one minute.
 */
const PROFILES = 50;

t.setTimeout(280_000);

t.test('npm run bench -- --scale 50 --quick', async (t) => {
  const { code, stdout, stderr, jsonFile } = await runBench(t, [
    '--scale',
    String(PROFILES),
    '--quick',
  ]);
  t.equal(code, 0, `benchmark exits 0\n${stderr}`);

  const summary = JSON.parse(await readFile(jsonFile, 'utf8'));
  t.same(JSON.parse(stdout.trim().split('\n').pop() ?? ''), summary, 'the last line is the JSON');
  t.match(stdout, /IAM: moto/, 'says which IAM server it ran against');
  t.equal(summary.mode, 'scale');
  const { scale } = summary;
  t.equal(scale.profiles, PROFILES);
  t.equal(scale.iam, 'moto', 'moto keeps up with 50 Profiles');

  t.equal(scale.roles, PROFILES, 'every Profile got its role');
  t.same(
    scale.creations.iamCallsByOperation,
    { CreateRole: PROFILES, PutRolePolicy: PROFILES },
    'two IAM calls per new Profile: CreateRole, then PutRolePolicy',
  );
  t.match(scale.creations, {
    without: { profiles: Number, perSecond: Number },
    with: { profiles: PROFILES, perSecond: Number },
    ratio: Number,
  });

  const { passes, first, steady } = scale.replica;
  t.ok(passes.length >= 2, 'a first and a steady pass');
  t.equal(first.profiles, PROFILES, 'the first pass saw every Profile');
  t.equal(steady.rolesBound, PROFILES, 'every role bound to its Profile by the steady pass');
  for (const pass of passes) {
    t.equal(pass.inPlace, PROFILES, `pass ${pass.pass}: every role in place`);
    t.ok(
      pass.iamCallsPerProfile <= 2.1,
      `pass ${pass.pass}: ${pass.iamCallsPerProfile} IAM calls per Profile (at most 2.1)`,
    );
    t.ok(pass.iamCallsPerProfile >= 2, `pass ${pass.pass}: every role's tags and policy read`);
    t.match(pass, { seconds: Number, rssBytes: Number });
  }
});

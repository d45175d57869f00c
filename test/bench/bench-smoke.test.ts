import t from 'tap';
import { readFile } from 'node:fs/promises';
import { runBench } from '../helpers/bench.js';

/*
 * Keeps `npm run bench` from rotting: runs the benchmark's --quick smoke (dist/ must be built, as
 * `npm test` does first) and checks that the JSON summary has every phase. No timing is asserted;
 * the only property checked is a correctness one: 100 concurrent CREATEs of one new namespace
 * make exactly one CreateRole call.
 */

t.setTimeout(240_000);

t.test('npm run bench -- --quick writes a complete summary', async (t) => {
  const { code, stdout, stderr, jsonFile } = await runBench(t, ['--quick']);
  t.equal(code, 0, `benchmark exits 0\n${stderr}`);

  const summary = JSON.parse(await readFile(jsonFile, 'utf8'));
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  t.same(JSON.parse(lastLine), summary, 'the last stdout line is the same JSON summary');
  t.match(stdout, /Targets/, 'prints the table');

  t.equal(summary.mode, 'quick');
  t.match(summary.machine, {
    cores: Number,
    cpuModel: String,
    node: process.version,
    date: String,
  });

  t.equal(summary.hotPath.points.length, 6, 'two endpoints × three concurrency levels');
  for (const point of summary.hotPath.points) {
    t.match(point, {
      endpoint: /^(mutate|validate)$/,
      concurrency: Number,
      rpsRatio: Number,
      p99Ratio: Number,
      webhook: { requestsPerSecond: Number, p50Ms: Number, p99Ms: Number, errors: 0, non2xx: 0 },
      baseline: { requestsPerSecond: Number, p50Ms: Number, p99Ms: Number, errors: 0, non2xx: 0 },
    });
  }
  t.equal(summary.hotPath.iamCallsDuringLoad, 0, 'cached UPDATEs make no IAM call');

  t.match(summary.provisioning, {
    namespaces: Number,
    webhookMsPerNamespace: { median: Number, mean: Number },
    directMsPerNamespace: { median: Number, mean: Number },
    ratio: Number,
    iamCallsPerNamespace: Number,
    minimumIamCallsPerNamespace: 2,
  });

  t.match(summary.coalescing, {
    requests: 100,
    allowed: 100,
    p50Ms: Number,
    p99Ms: Number,
    maxMs: Number,
  });
  t.equal(summary.coalescing.createRoleCalls, 1, 'one CreateRole for 100 concurrent CREATEs');

  t.ok(summary.memory.samples.length >= 6, 'RSS sampled after each phase');
  for (const sample of summary.memory.samples) {
    t.match(sample, { label: String, process: String });
  }
  t.match(summary.memory.cacheFill, {
    namespaces: Number,
    target: Number,
    iam: 'stub',
    cacheCheck: { namespaces: Number, iamCalls: 0 },
  });
  t.equal(summary.memory.cacheFill.namespaces, summary.memory.cacheFill.target);

  // The test setup builds the control plane and installs helm: the phase must run, not skip.
  t.equal(
    summary.apiServer.skipped,
    false,
    `through the API server: ${summary.apiServer.reason ?? 'ran'}`,
  );
  t.same(
    summary.apiServer.operations?.map((o: { operation: string }) => o.operation),
    ['CREATE', 'UPDATE'],
  );

  t.equal(summary.targets.length, 7, 'every target reported');
  for (const target of summary.targets) {
    t.match(target, { name: String, target: String, value: String });
  }
});

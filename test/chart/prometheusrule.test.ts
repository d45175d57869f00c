// The chart's PrometheusRule, rendered by the real helm and unit-tested by the real promtool
// (`promtool check rules`, then `promtool test rules`): every alert fires on the series that mean
// trouble and stays quiet on the ones that do not. Expected annotations are the rule's own
// templates with the labels and value of the case filled in, so a template that renders
// differently (or names a label the alert does not carry) fails here.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { stringify } from 'yaml';
import { ensurePromtool } from '../helpers/go-tools.js';
import {
  chartDir,
  findObject,
  helmTemplate,
  REQUIRED_VALUES,
  type K8sObject,
} from '../helpers/helm.js';

const execFileAsync = promisify(execFile);
const RELEASE = 't';
const NAMESPACE = 'irsa';
const JOB = 't-profile-irsa-webhook';
const SEL = `job="${JOB}",namespace="${NAMESPACE}"`;
const BASE_LABELS = { job: JOB, namespace: NAMESPACE };

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const render = (...args: string[]) =>
  helmTemplate([RELEASE, chartDir, '--namespace', NAMESPACE, ...REQUIRED_VALUES, ...args]);

function rulesOf(objects: K8sObject[]): Rule[] {
  const rule = findObject(objects, 'PrometheusRule');
  const groups = (rule as unknown as { spec: { groups: { rules: Rule[] }[] } }).spec.groups;
  return groups.flatMap((group) => group.rules);
}

const promtool = await ensurePromtool();
const dir = await mkdtemp(join(tmpdir(), 'irsa-promrules-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function runPromtool(...args: string[]) {
  try {
    const { stdout, stderr } = await execFileAsync(promtool, args, {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const objects = await render(
  '--set',
  'prometheusRule.enabled=true',
  '--set',
  'prometheusRule.labels.release=kube-prometheus-stack',
);
const rules = rulesOf(objects);
const byName = new Map(rules.map((rule) => [rule.alert, rule]));
// Every render before the first subtest: tap refuses subtests once the file's awaits resume.
const defaults = await render();
const elsewhere = findObject(
  await render('--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.namespace=mon'),
  'PrometheusRule',
);
const withoutReconciler = rulesOf(
  await render('--set', 'prometheusRule.enabled=true', '--set', 'reconcile=false'),
);
const slowRules = rulesOf(
  await render('--set', 'prometheusRule.enabled=true', '--set', 'reconcileInterval=1h30m'),
);
const fastRules = rulesOf(
  await render('--set', 'prometheusRule.enabled=true', '--set', 'reconcileInterval=2.5m'),
);
const readme = await readFile(join(chartDir, 'README.md'), 'utf8');
const everything = findObject(
  await render('-f', join(chartDir, 'ci/everything-on-values.yaml')),
  'PrometheusRule',
);

t.test('no PrometheusRule unless enabled', async (t) => {
  t.notOk(defaults.some((o) => o.kind === 'PrometheusRule'));
});

t.test('helm template renders the PrometheusRule with its labels and namespace', async (t) => {
  const rule = findObject(objects, 'PrometheusRule');
  t.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  t.equal(rule.metadata.namespace, NAMESPACE);
  t.match(rule.metadata.labels, {
    release: 'kube-prometheus-stack',
    'app.kubernetes.io/instance': RELEASE,
  });
  t.same([...byName.keys()].sort(), [
    'ProfileIrsaAdmissionIamFailures',
    'ProfileIrsaCertificateExpiresSoon',
    'ProfileIrsaIamThrottled',
    'ProfileIrsaOrphanRolesRetained',
    'ProfileIrsaReconcilePassStale',
    'ProfileIrsaReconcilerNoLeader',
    'ProfileIrsaRolesNotInPlace',
  ]);
  t.equal(elsewhere.metadata.namespace, 'mon', 'prometheusRule.namespace');
});

t.test('ci/everything-on-values.yaml: namespace, labels, runbook URL, interval', async (t) => {
  t.equal(everything.metadata.namespace, 'monitoring');
  t.match(everything.metadata.labels, { release: 'kube-prometheus-stack' });
  const all = rulesOf([everything]);
  t.equal(all.length, 7);
  for (const rule of all) {
    t.match(
      rule.annotations.runbook_url,
      /^https:\/\/git\.example\.com\/ml-platform\/profile-irsa-webhook\/blob\/main\/charts\/profile-irsa-webhook\/README\.md#profileirsa/,
    );
  }
  const stale = all.find((rule) => rule.alert === 'ProfileIrsaReconcilePassStale')!;
  t.match(stale.expr, /> 3600\b/, 'twice reconcileInterval 30m');
});

t.test('every alert has a summary, a description and a runbook entry that exists', async (t) => {
  for (const rule of rules) {
    t.ok(rule.annotations.summary, `${rule.alert}: summary`);
    t.ok(rule.annotations.description, `${rule.alert}: description`);
    t.ok(['warning', 'info', 'critical'].includes(rule.labels.severity ?? ''), 'severity');
    t.notOk('runbook_url' in rule.annotations, `${rule.alert}: no runbook_url without runbookUrl`);
  }
  // GitHub's anchors: the heading lower-cased, punctuation dropped, spaces as dashes.
  const anchors = new Set(
    [...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  for (const rule of rulesOf([everything])) {
    const url = rule.annotations.runbook_url ?? '';
    const anchor = url.slice(url.indexOf('#') + 1);
    t.ok(anchors.has(anchor), `${rule.alert}: README has a heading for #${anchor}`);
  }
});

t.test('without the reconciler only the admission and certificate alerts', async (t) => {
  const names = withoutReconciler.map((rule) => rule.alert);
  t.same(names.sort(), [
    'ProfileIrsaAdmissionIamFailures',
    'ProfileIrsaCertificateExpiresSoon',
    'ProfileIrsaIamThrottled',
  ]);
});

t.test('thresholds follow reconcileInterval', async (t) => {
  const slow = new Map(slowRules.map((rule) => [rule.alert, rule]));
  t.match(slow.get('ProfileIrsaReconcilePassStale')!.expr, /> 10800\b/, 'twice 1h30m');
  t.equal(slow.get('ProfileIrsaRolesNotInPlace')!.for, '6300s', 'one interval and 15 minutes');
  const fast = new Map(fastRules.map((rule) => [rule.alert, rule]));
  t.match(fast.get('ProfileIrsaReconcilePassStale')!.expr, /> 300\b/);
  t.equal(fast.get('ProfileIrsaRolesNotInPlace')!.for, '3600s', 'at least an hour');
});

// --- promtool ------------------------------------------------------------------------------------

/** The rule's annotation templates with this case's labels and value filled in. */
function expectedAnnotations(
  alert: string,
  labels: Record<string, string>,
  value: string,
): Record<string, string> {
  const rule = byName.get(alert)!;
  return Object.fromEntries(
    Object.entries(rule.annotations).map(([key, text]) => [
      key,
      text.replace(/\{\{ \$(labels\.(\w+)|value)( \| \w+)? \}\}/g, (_, _all, label?: string) => {
        if (label === undefined) return value;
        const found = labels[label];
        if (found === undefined) throw new Error(`${alert}.${key} names label ${label}`);
        return found;
      }),
    ]),
  );
}

interface Series {
  series: string;
  values: string;
}

interface Case {
  name: string;
  input: Series[];
  evalTime: string;
  alert: string;
  /** The alerts expected: their extra labels and the text their value renders as. */
  fires: { labels: Record<string, string>; value: string }[];
}

const s = (metric: string, labels: string, values: string): Series => ({
  series: `${metric}{${SEL}${labels ? `,${labels}` : ''}}`,
  values,
});
const leader = (instance: string, values: string) =>
  s('profile_irsa_reconcile_leader', `instance="${instance}"`, values);
const lastPass = (instance: string, values: string) =>
  s('profile_irsa_reconcile_last_success_timestamp_seconds', `instance="${instance}"`, values);
const started = (instance: string, values: string) =>
  s('process_start_time_seconds', `instance="${instance}"`, values);
const iamFailures = (reason: string, values: string) =>
  s('profile_irsa_admission_iam_failures_total', `instance="a",reason="${reason}"`, values);
const iamCalls = (operation: string, outcome: string, values: string) =>
  s(
    'profile_irsa_iam_calls_total',
    `instance="a",operation="${operation}",outcome="${outcome}"`,
    values,
  );
const expiry = (instance: string, days: number) =>
  s(
    'profile_irsa_certificate_expiry_timestamp_seconds',
    `instance="${instance}"`,
    `${days * 86400}x30`,
  );
const roles = (instance: string, state: string, values: string) =>
  s('profile_irsa_reconcile_roles', `instance="${instance}",state="${state}"`, values);

const warning = (value: string, labels: Record<string, string> = {}) => ({
  labels: { severity: 'warning', ...labels },
  value,
});

/** A case of one alert: its name, when it is evaluated, the series, the alerts (none: quiet). */
type Row = [name: string, evalTime: string, input: Series[], fires?: Case['fires']];

const TABLE: Record<string, Row[]> = {
  // No replica leads the reconciler.
  ProfileIrsaReconcilerNoLeader: [
    [
      'no leader: both replicas at 0 for 15 minutes',
      '15m',
      [leader('a', '0x30'), leader('b', '0x30')],
      [warning('0')],
    ],
    [
      'no leader: nothing scraped at all',
      '15m',
      [{ series: 'up{job="other"}', values: '1x30' }],
      [warning('1')],
    ],
    ['no leader: one replica leads', '15m', [leader('a', '1x30'), leader('b', '0x30')]],
    [
      'no leader: a handover shorter than 10 minutes',
      '20m',
      [leader('a', '1x5 0x25'), leader('b', '0x8 1x22')],
    ],
  ],
  // The last successful pass is older than twice the interval (1h by default).
  ProfileIrsaReconcilePassStale: [
    [
      'stale pass: no pass since the replicas started 2h10m ago',
      '130m',
      [lastPass('a', '0x140'), started('a', '0x140')],
      [warning('2h 10m 0s')],
    ],
    [
      'stale pass: the last pass 2h10m ago',
      '140m',
      [lastPass('a', '0x10 600x140'), started('a', '0x150')],
      [warning('2h 10m 0s')],
    ],
    // The gauge follows the clock: its value is the evaluation time in seconds.
    ['stale pass: a pass every minute', '130m', [lastPass('a', '0+60x140'), started('a', '0x140')]],
    [
      'stale pass: the only replica started an hour ago and has not finished a pass yet',
      '130m',
      [lastPass('a', '0x140'), started('a', '3600x140')],
    ],
    [
      'stale pass: the standby never passed, the leader did a minute ago',
      '130m',
      [
        lastPass('a', '0+60x140'),
        lastPass('b', '0x140'),
        started('a', '0x140'),
        started('b', '0x140'),
      ],
    ],
  ],
  // Admissions fail for IAM reasons.
  ProfileIrsaAdmissionIamFailures: [
    [
      'admission IAM failures: one access-denied',
      '5m',
      [iamFailures('access-denied', '0 0 0 1x20'), iamFailures('deadline', '0x23')],
      [warning('', { reason: 'access-denied' })],
    ],
    [
      'admission IAM failures: the last one 15 minutes ago',
      '18m',
      [iamFailures('access-denied', '0 0 0 1x20')],
    ],
    ['admission IAM failures: none', '20m', [iamFailures('deadline', '0x30')]],
  ],
  // IAM throttles.
  ProfileIrsaIamThrottled: [
    [
      'throttled: throttling for 20 minutes',
      '20m',
      [iamCalls('GetRole', 'Throttling', '0+1x40'), iamCalls('GetRole', 'success', '0+5x40')],
      [warning('')],
    ],
    ['throttled: one throttle, then none', '25m', [iamCalls('GetRole', 'Throttling', '0 1x40')]],
    [
      'throttled: other errors are not throttling',
      '25m',
      [iamCalls('CreateRole', 'AccessDenied', '0+1x40')],
    ],
  ],
  // The serving certificate expires within 7 days.
  ProfileIrsaCertificateExpiresSoon: [
    [
      'certificate: one pod serves a certificate with 6 days left',
      '20m',
      [expiry('a', 6), expiry('b', 30)],
      [warning('5d 23h 40m 0s')],
    ],
    ['certificate: 30 days left', '20m', [expiry('a', 30)]],
  ],
  // Roles not in place for an hour (default interval 1h: the alert waits 75 minutes).
  ProfileIrsaRolesNotInPlace: [
    [
      'not in place: drift at every pass for 100 minutes',
      '90m',
      [leader('a', '1x100'), roles('a', 'drift', '1x100'), roles('a', 'in_place', '4x100')],
      [warning('1', { state: 'drift' })],
    ],
    [
      'not in place: drift seen by one pass, repaired, gone at the next pass an hour later',
      '90m',
      [leader('a', '1x100'), roles('a', 'drift', '1x60 0x40')],
    ],
    [
      'not in place: a former leader still exports what it saw; the leader sees none',
      '90m',
      [
        leader('a', '1x100'),
        leader('b', '0x100'),
        roles('a', 'blocked', '0x100'),
        roles('b', 'blocked', '3x100'),
      ],
    ],
    [
      'not in place: blocked and missing together',
      '90m',
      [
        leader('a', '1x100'),
        roles('a', 'blocked', '2x100'),
        roles('a', 'missing', '1x100'),
        roles('a', 'foreign', '1x100'),
      ],
      [warning('2', { state: 'blocked' }), warning('1', { state: 'missing' })],
    ],
  ],
  // Orphans retained.
  ProfileIrsaOrphanRolesRetained: [
    [
      'orphans: two retained for 100 minutes',
      '90m',
      [leader('a', '1x100'), roles('a', 'orphan', '2x100')],
      [{ labels: { severity: 'info' }, value: '2' }],
    ],
    [
      'orphans: one seen, deleted after the grace, gone at the next pass',
      '90m',
      [leader('a', '1x100'), roles('a', 'orphan', '1x60 0x40')],
    ],
  ],
};

const CASES: Case[] = Object.entries(TABLE).flatMap(([alert, rows]) =>
  rows.map(([name, evalTime, input, fires = []]) => ({ name, input, evalTime, alert, fires })),
);

t.test('promtool: the rules are valid', async (t) => {
  await writeFile(
    join(dir, 'rules.yaml'),
    stringify({ groups: [{ name: 'profile-irsa-webhook', rules }] }),
  );
  const result = await runPromtool('check', 'rules', 'rules.yaml');
  t.equal(result.code, 0, result.output);
  t.match(result.output, /SUCCESS: 7 rules found/);
});

t.test('promtool: every alert fires on trouble and stays quiet otherwise', async (t) => {
  const alerts = new Set(CASES.map((c) => c.alert));
  for (const rule of rules) {
    const cases = CASES.filter((c) => c.alert === rule.alert);
    t.ok(
      cases.some((c) => c.fires.length > 0),
      `${rule.alert} has a firing case`,
    );
    t.ok(
      cases.some((c) => c.fires.length === 0),
      `${rule.alert} has a quiet case`,
    );
  }
  t.equal(alerts.size, rules.length);

  const tests = CASES.map((c) => ({
    name: c.name,
    interval: '1m',
    input_series: c.input,
    alert_rule_test: [
      {
        eval_time: c.evalTime,
        alertname: c.alert,
        exp_alerts: c.fires.map((fire) => {
          const labels = { ...BASE_LABELS, ...fire.labels };
          return {
            exp_labels: labels,
            exp_annotations: expectedAnnotations(c.alert, labels, fire.value),
          };
        }),
      },
    ],
  }));
  await writeFile(
    join(dir, 'rules.yaml'),
    stringify({ groups: [{ name: 'profile-irsa-webhook', rules }] }),
  );
  await writeFile(
    join(dir, 'tests.yaml'),
    stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }),
  );
  const result = await runPromtool('test', 'rules', 'tests.yaml');
  t.equal(result.code, 0, result.output);
  t.match(result.output, /SUCCESS/);
});

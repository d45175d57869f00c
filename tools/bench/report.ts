import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { ApiServerPhaseResult } from './apiserver-phase.js';
import type {
  CacheFillResult,
  CoalescingResult,
  HotPathResult,
  ProvisioningResult,
} from './phases.js';
import { imageNodeFlags } from './processes.js';

export interface Machine {
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryGb: number;
  loadAverage1m: number;
  date: string;
  /** Node.js flags the webhook runs with: the image's ENTRYPOINT's. */
  webhookNodeFlags: string[];
}

export function machine(): Machine {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${platform()} ${release()}`,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    date: new Date().toISOString(),
    webhookNodeFlags: imageNodeFlags(),
  };
}

export interface MemorySample {
  label: string;
  process: 'webhook' | 'webhook (cache fill)';
  rssBytes: number | null;
}

export interface Target {
  name: string;
  target: string;
  value: string;
  pass: boolean | null;
}

export interface Summary {
  benchmark: 'profile-irsa-webhook';
  mode: 'quick' | 'full';
  machine: Machine;
  hotPath: HotPathResult;
  provisioning: ProvisioningResult;
  coalescing: CoalescingResult;
  memory: { samples: MemorySample[]; cacheFill: CacheFillResult; maxRssBytes: number | null };
  apiServer: ApiServerPhaseResult;
  targets: Target[];
  seconds: number;
}

export function targets(s: Omit<Summary, 'targets' | 'seconds'>): Target[] {
  const list: Target[] = [];
  for (const endpoint of ['mutate', 'validate'] as const) {
    const point = s.hotPath.points.find((p) => p.endpoint === endpoint && p.concurrency === 10);
    list.push({
      name: `hot path /${endpoint} req/s vs baseline @c10`,
      target: '≥ 0.90×',
      value: point ? `${point.rpsRatio.toFixed(2)}×` : 'n/a',
      pass: point ? point.rpsRatio >= 0.9 : null,
    });
    list.push({
      name: `hot path /${endpoint} p99 vs baseline @c10`,
      target: '≤ 1.50×',
      value: point ? `${point.p99Ratio.toFixed(2)}×` : 'n/a',
      pass: point ? point.p99Ratio <= 1.5 : null,
    });
  }
  list.push({
    name: 'provisioning time vs direct IAM',
    target: '≤ 1.20×',
    value: `${s.provisioning.ratio.toFixed(2)}×`,
    pass: s.provisioning.ratio <= 1.2,
  });
  list.push({
    name: 'CreateRole calls, 100 concurrent CREATEs',
    target: '= 1',
    value: String(s.coalescing.createRoleCalls),
    pass: s.coalescing.createRoleCalls === 1,
  });
  const rss = s.memory.maxRssBytes;
  list.push({
    name: 'webhook RSS, max over samples',
    target: '< 150 MB',
    value: rss === null ? 'n/a' : mb(rss),
    pass: rss === null ? null : rss < 150 * 2 ** 20,
  });
  return list;
}

function mb(bytes: number | null): string {
  return bytes === null ? 'n/a' : `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');
const us = (value: number | null) => (value === null ? 'n/a' : value.toFixed(0));
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a');

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function render(s: Summary): string {
  const m = s.machine;
  const out: string[] = [];
  out.push(
    `profile-irsa-webhook benchmark (${s.mode}) — ${m.cores} × ${m.cpuModel}, ${m.memoryGb} GB, ` +
      `Node ${m.node} (webhook: ${m.webhookNodeFlags.join(' ') || 'no flags'}, as in the image), ` +
      `${m.platform}, load ${m.loadAverage1m} at start, ${m.date}`,
  );
  out.push('');
  const h = s.hotPath;
  out.push(
    `1. Hot path: UPDATE of a provisioned Profile (${h.bodyBytes} B review), webhook vs baseline ` +
      `fastify HTTPS; ${h.rounds} alternating round(s) of ${h.durationMs / 1000} s per cell, medians`,
  );
  out.push(
    table(
      [
        'endpoint',
        'conc',
        'webhook req/s',
        'baseline req/s',
        'ratio',
        'wh p50',
        'bl p50',
        'wh p99',
        'bl p99',
        'p99 ratio',
        'wh CPU',
        'bl CPU',
        'CPU ratio',
      ],
      h.points.map((p) => [
        `/${p.endpoint}`,
        String(p.concurrency),
        p.webhook.requestsPerSecond.toFixed(0),
        p.baseline.requestsPerSecond.toFixed(0),
        ratio(p.rpsRatio),
        ms(p.webhook.p50Ms),
        ms(p.baseline.p50Ms),
        ms(p.webhook.p99Ms),
        ms(p.baseline.p99Ms),
        ratio(p.p99Ratio),
        us(p.webhook.cpuUsPerRequest),
        us(p.baseline.cpuUsPerRequest),
        p.cpuRatio === null ? 'n/a' : ratio(p.cpuRatio),
      ]),
    ),
  );
  const failures = h.points.reduce(
    (n, p) => n + p.webhook.errors + p.webhook.non2xx + p.baseline.errors + p.baseline.non2xx,
    0,
  );
  out.push(
    `   (latencies in ms; CPU: the server process's CPU time per request, µs; IAM calls during ` +
      `the load: ${h.iamCallsDuringLoad}; errors/non-2xx: ${failures})`,
  );
  out.push('');
  const p = s.provisioning;
  out.push(
    `2. Provisioning: ${p.namespaces} new namespaces, alternating webhook and direct SDK, vs moto`,
  );
  out.push(
    table(
      ['path', 'median ms/ns', 'mean ms/ns', 'IAM calls/ns'],
      [
        [
          'CREATE via /mutate',
          ms(p.webhookMsPerNamespace.median),
          ms(p.webhookMsPerNamespace.mean),
          p.iamCallsPerNamespace.toFixed(2),
        ],
        [
          'direct CreateRole+PutRolePolicy',
          ms(p.directMsPerNamespace.median),
          ms(p.directMsPerNamespace.mean),
          String(p.minimumIamCallsPerNamespace),
        ],
        ['ratio (medians)', ratio(p.ratio), '', ''],
      ],
    ),
  );
  out.push('');
  const c = s.coalescing;
  out.push(`3. Coalescing: ${c.requests} concurrent CREATEs of one new namespace`);
  out.push(
    table(
      ['CreateRole calls', 'IAM calls', 'allowed', 'p50 ms', 'p99 ms', 'max ms'],
      [
        [
          String(c.createRoleCalls),
          String(c.iamCalls),
          `${c.allowed}/${c.requests}`,
          ms(c.p50Ms),
          ms(c.p99Ms),
          ms(c.maxMs),
        ],
      ],
    ),
  );
  out.push('');
  const f = s.memory.cacheFill;
  out.push('4. Memory: resident set size of the webhook process (/proc/<pid>/status VmRSS)');
  out.push(
    table(
      ['when', 'process', 'RSS'],
      s.memory.samples.map((x) => [x.label, x.process, mb(x.rssBytes)]),
    ),
  );
  out.push(
    `   cache fill: ${f.namespaces}/${f.target} namespaces in ${f.seconds.toFixed(1)} s through a ` +
      `second webhook process whose IAM is a minimal in-process stub (moto ~10 ms/call is too slow ` +
      `for this count); heap used after: ${mb(f.heapUsedAfterBytes)}; ${f.cacheCheck.namespaces} ` +
      `sampled UPDATEs afterwards made ${f.cacheCheck.iamCalls} IAM calls (cache hits)`,
  );
  out.push('');
  out.push('5. Through the API server');
  const a = s.apiServer;
  if (a.skipped) out.push(`   skipped: ${a.reason}`);
  else {
    out.push(
      table(
        ['operation', 'without webhook ms', 'with webhook ms', 'ratio'],
        a.operations.map((o) => [o.operation, ms(o.withoutMs), ms(o.withMs), ratio(o.ratio)]),
      ),
    );
    out.push(`   (${a.profiles} Profiles per operation and side, alternating; medians)`);
  }
  out.push('');
  out.push(`Targets (informational; a miss never fails the run) — total ${s.seconds.toFixed(0)} s`);
  out.push(
    table(
      ['target', 'wanted', 'measured', 'result'],
      s.targets.map((t) => [
        t.name,
        t.target,
        t.value,
        t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS',
      ]),
    ),
  );
  return out.join('\n');
}

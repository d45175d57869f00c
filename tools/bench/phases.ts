import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { deriveRoleSpec } from '../../src/core/role-spec.js';
import type { RoleSettings } from '../../src/core/settings.js';
import { FAKE_CREDENTIALS, MOTO_REGION } from '../dev/moto.js';
import { HttpsClient, runLoad, type LoadResult } from './load.js';
import { cpuMs, metricSum, parsePrometheus, rssBytes, type WebhookProcess } from './processes.js';
import { createReviewBody, hotUpdateReviewBody, parseAnswer } from './reviews.js';
import { mean, median, Samples, type LatencySummary } from './stats.js';

export interface PhaseContext {
  quick: boolean;
  caCert: string;
  webhook: WebhookProcess;
  baselineUrl: string;
  /** The baseline server's process, for its CPU time. */
  baselinePid: number;
  settings: RoleSettings;
  motoEndpoint: string;
  progress(message: string): void;
  /** Called once the servers are warm, before the measured runs (memory sample). */
  afterWarmUp?: () => Promise<unknown>;
}

const IAM_CALLS = 'profile_irsa_iam_calls_total';

async function iamCalls(webhook: WebhookProcess, operation?: string): Promise<number> {
  const samples = parsePrometheus(await webhook.metrics());
  return metricSum(samples, IAM_CALLS, operation === undefined ? {} : { operation });
}

/** Posts one review and insists on an allowed answer: a benchmark of denials measures nothing. */
async function admitted(client: HttpsClient, url: string, body: string, what: string) {
  const answer = await client.post(url, body);
  if (answer.status !== 200) throw new Error(`${what}: HTTP ${answer.status}: ${answer.body}`);
  const review = parseAnswer(answer.body);
  if (!review.allowed) throw new Error(`${what}: not allowed: ${review.message ?? answer.body}`);
  return { ...review, ms: answer.ms };
}

// ---------------------------------------------------------------------------------------------
// 1. Hot path

interface RunSummary {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** Each round's requests per second, in run order. */
  rounds: number[];
  /**
   * The server process's CPU time per request (µs), over all rounds: what it costs to answer,
   * far steadier than throughput when the load generator and other work share the cores.
   */
  cpuUsPerRequest: number | null;
}

interface HotPoint {
  endpoint: 'mutate' | 'validate';
  concurrency: number;
  webhook: RunSummary;
  baseline: RunSummary;
  /** webhook / baseline requests per second. */
  rpsRatio: number;
  /** webhook / baseline p99 latency. */
  p99Ratio: number;
  /** webhook / baseline CPU time per request. */
  cpuRatio: number | null;
}

export interface HotPathResult {
  bodyBytes: number;
  durationMs: number;
  rounds: number;
  points: HotPoint[];
  /** IAM calls the webhook made during the whole phase after provisioning; expected 0. */
  iamCallsDuringLoad: number;
}

const CONCURRENCY = [1, 10, 50] as const;

export async function hotPath(ctx: PhaseContext): Promise<HotPathResult> {
  const durationMs = ctx.quick ? 400 : 4000;
  const warmMs = ctx.quick ? 200 : 1500;
  const rounds = ctx.quick ? 1 : 3;
  const namespace = 'bench-hot';
  const roleArn = deriveRoleSpec(ctx.settings, namespace).roleArn;
  const client = new HttpsClient(ctx.caCert);
  try {
    await admitted(
      client,
      `${ctx.webhook.admissionUrl}/mutate`,
      createReviewBody(namespace),
      `provisioning ${namespace}`,
    );
    const body = hotUpdateReviewBody(namespace, roleArn);
    const targets = { webhook: ctx.webhook.admissionUrl, baseline: ctx.baselineUrl };
    for (const endpoint of ['mutate', 'validate']) {
      for (const [name, base] of Object.entries(targets)) {
        await admitted(client, `${base}/${endpoint}`, body, `${name} /${endpoint}`);
      }
    }
    const iamBefore = await iamCalls(ctx.webhook);

    ctx.progress(`hot path: warm-up (${warmMs} ms per server and endpoint)`);
    for (const endpoint of ['mutate', 'validate']) {
      for (const base of Object.values(targets)) {
        await runLoad({ url: `${base}/${endpoint}`, body, connections: 10, durationMs: warmMs });
      }
    }

    await ctx.afterWarmUp?.();
    const points: HotPoint[] = [];
    for (const endpoint of ['mutate', 'validate'] as const) {
      for (const concurrency of CONCURRENCY) {
        const runs: Record<'webhook' | 'baseline', LoadResult[]> = { webhook: [], baseline: [] };
        const cpu = { webhook: 0, baseline: 0 };
        const pids = { webhook: ctx.webhook.pid, baseline: ctx.baselinePid };
        let cpuKnown = true;
        for (let round = 0; round < rounds; round++) {
          // Alternate which server goes first, so drift in the machine's load hits both alike.
          const order =
            round % 2 === 0
              ? (['baseline', 'webhook'] as const)
              : (['webhook', 'baseline'] as const);
          for (const target of order) {
            const before = await cpuMs(pids[target]);
            runs[target].push(
              await runLoad({
                url: `${targets[target]}/${endpoint}`,
                body,
                connections: concurrency,
                durationMs,
              }),
            );
            const after = await cpuMs(pids[target]);
            if (before === undefined || after === undefined) cpuKnown = false;
            else cpu[target] += after - before;
          }
        }
        const webhook = summarize(runs.webhook, cpuKnown ? cpu.webhook : undefined);
        const baseline = summarize(runs.baseline, cpuKnown ? cpu.baseline : undefined);
        const point: HotPoint = {
          endpoint,
          concurrency,
          webhook,
          baseline,
          rpsRatio: webhook.requestsPerSecond / baseline.requestsPerSecond,
          p99Ratio: webhook.p99Ms / baseline.p99Ms,
          cpuRatio:
            webhook.cpuUsPerRequest !== null && baseline.cpuUsPerRequest
              ? webhook.cpuUsPerRequest / baseline.cpuUsPerRequest
              : null,
        };
        points.push(point);
        ctx.progress(
          `hot path /${endpoint} c=${concurrency}: webhook ${webhook.requestsPerSecond.toFixed(0)} req/s, ` +
            `baseline ${baseline.requestsPerSecond.toFixed(0)} req/s (×${point.rpsRatio.toFixed(2)})`,
        );
      }
    }
    return {
      bodyBytes: Buffer.byteLength(body),
      durationMs,
      rounds,
      points,
      iamCallsDuringLoad: (await iamCalls(ctx.webhook)) - iamBefore,
    };
  } finally {
    client.close();
  }
}

/** Medians over rounds, so one noisy round on a shared machine does not decide the result. */
function summarize(runs: LoadResult[], cpuTotalMs: number | undefined): RunSummary {
  const responses = runs.reduce((sum, r) => sum + r.responses, 0);
  return {
    requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    maxMs: Math.max(...runs.map((r) => r.maxMs)),
    requests: runs.reduce((sum, r) => sum + r.count, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    rounds: runs.map((r) => r.requestsPerSecond),
    cpuUsPerRequest:
      cpuTotalMs === undefined || responses === 0 ? null : (cpuTotalMs * 1000) / responses,
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Provisioning path

export interface ProvisioningResult {
  namespaces: number;
  webhookMsPerNamespace: { median: number; mean: number };
  directMsPerNamespace: { median: number; mean: number };
  /** webhook / direct, of the medians. */
  ratio: number;
  iamCallsPerNamespace: number;
  minimumIamCallsPerNamespace: 2;
}

/**
 * New namespaces CREATEd through /mutate (which must CreateRole, then PutRolePolicy against
 * moto) against the same two calls made directly with the SDK, alternating one of each.
 */
export async function provisioning(ctx: PhaseContext): Promise<ProvisioningResult> {
  const count = ctx.quick ? 5 : 50;
  const warm = 2;
  const client = new HttpsClient(ctx.caCert);
  const iam = new IAMClient({
    region: MOTO_REGION,
    endpoint: ctx.motoEndpoint,
    credentials: FAKE_CREDENTIALS,
  });
  const viaWebhook = async (namespace: string) =>
    (
      await admitted(
        client,
        `${ctx.webhook.admissionUrl}/mutate`,
        createReviewBody(namespace),
        `CREATE ${namespace}`,
      )
    ).ms;
  const direct = async (namespace: string) => {
    const spec = deriveRoleSpec(ctx.settings, namespace);
    const started = performance.now();
    await iam.send(
      new CreateRoleCommand({
        RoleName: spec.roleName,
        Path: spec.rolePath,
        AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy),
        Description: `IRSA role of Kubeflow profile ${spec.namespace}`,
        Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
        PermissionsBoundary: spec.permissionsBoundary,
        MaxSessionDuration: spec.maxSessionDuration,
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: spec.roleName,
        PolicyName: spec.s3Policy.name,
        PolicyDocument: JSON.stringify(spec.s3Policy.document),
      }),
    );
    return performance.now() - started;
  };
  try {
    for (let i = 0; i < warm; i++) {
      await viaWebhook(`bench-warm-w${i}`);
      await direct(`bench-warm-d${i}`);
    }
    const before = await iamCalls(ctx.webhook);
    const webhookMs: number[] = [];
    const directMs: number[] = [];
    for (let i = 0; i < count; i++) {
      if (i % 2 === 0) {
        webhookMs.push(await viaWebhook(`bench-new-w${i}`));
        directMs.push(await direct(`bench-new-d${i}`));
      } else {
        directMs.push(await direct(`bench-new-d${i}`));
        webhookMs.push(await viaWebhook(`bench-new-w${i}`));
      }
    }
    const calls = (await iamCalls(ctx.webhook)) - before;
    const webhook = { median: median(webhookMs), mean: mean(webhookMs) };
    const directStats = { median: median(directMs), mean: mean(directMs) };
    return {
      namespaces: count,
      webhookMsPerNamespace: webhook,
      directMsPerNamespace: directStats,
      ratio: webhook.median / directStats.median,
      iamCallsPerNamespace: calls / count,
      minimumIamCallsPerNamespace: 2,
    };
  } finally {
    client.close();
    iam.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Coalescing

export interface CoalescingResult extends LatencySummary {
  requests: number;
  allowed: number;
  createRoleCalls: number;
  iamCalls: number;
}

/** Concurrent CREATEs of one new namespace over already-open connections: one flight, one role. */
export async function coalescing(ctx: PhaseContext): Promise<CoalescingResult> {
  const requests = 100;
  const namespace = 'bench-coalesce';
  const client = new HttpsClient(ctx.caCert, requests);
  try {
    // Open every connection first, so the measured latencies hold no TLS handshakes.
    const hot = hotUpdateReviewBody('bench-hot', deriveRoleSpec(ctx.settings, 'bench-hot').roleArn);
    await Promise.all(
      Array.from({ length: requests }, () =>
        client.post(`${ctx.webhook.admissionUrl}/validate`, hot),
      ),
    );
    const createsBefore = await iamCalls(ctx.webhook, 'CreateRole');
    const callsBefore = await iamCalls(ctx.webhook);
    const answers = await Promise.all(
      Array.from({ length: requests }, () =>
        client.post(`${ctx.webhook.admissionUrl}/mutate`, createReviewBody(namespace)),
      ),
    );
    const samples = new Samples();
    let allowed = 0;
    for (const answer of answers) {
      samples.add(answer.ms);
      if (answer.status === 200 && parseAnswer(answer.body).allowed) allowed++;
    }
    return {
      requests,
      allowed,
      createRoleCalls: (await iamCalls(ctx.webhook, 'CreateRole')) - createsBefore,
      iamCalls: (await iamCalls(ctx.webhook)) - callsBefore,
      ...samples.summary(),
    };
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Memory: filling the role cache

export interface CacheFillResult {
  namespaces: number;
  target: number;
  seconds: number;
  iam: 'stub';
  rssBeforeBytes: number | null;
  rssAfterBytes: number | null;
  heapUsedAfterBytes: number | null;
  /** Sampled namespaces re-sent as UPDATEs after the fill, and IAM calls they caused (want 0). */
  cacheCheck: { namespaces: number; iamCalls: number };
}

/**
 * `target` distinct namespaces CREATEd through a webhook whose IAM is the stub, then a sample of
 * them UPDATEd again, which must all be cache hits. Bounded by count and by `maxMs`.
 */
export async function fillCache(
  ctx: PhaseContext,
  webhook: WebhookProcess,
  target: number,
  maxMs: number,
): Promise<CacheFillResult> {
  const concurrency = 16;
  const client = new HttpsClient(ctx.caCert, concurrency);
  const url = `${webhook.admissionUrl}/mutate`;
  try {
    const rssBeforeBytes = (await rssBytes(webhook.pid)) ?? null;
    const started = performance.now();
    const deadline = started + maxMs;
    let next = 0;
    let done = 0;
    let lastReport = started;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < target && performance.now() < deadline) {
          const i = next++;
          await admitted(client, url, createReviewBody(`cache-${i}`), `CREATE cache-${i}`);
          done++;
          if (performance.now() - lastReport > 10_000) {
            lastReport = performance.now();
            ctx.progress(`memory: ${done}/${target} namespaces cached`);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const rssAfterBytes = (await rssBytes(webhook.pid)) ?? null;
    const metrics = parsePrometheus(await webhook.metrics());
    const heap = metricSum(metrics, 'nodejs_heap_size_used_bytes');

    const checked = Math.min(done, 200);
    const before = await iamCalls(webhook);
    for (let k = 0; k < checked; k++) {
      const i = Math.floor((k * done) / checked);
      const namespace = `cache-${i}`;
      await admitted(
        client,
        url,
        hotUpdateReviewBody(namespace, deriveRoleSpec(ctx.settings, namespace).roleArn),
        `UPDATE ${namespace}`,
      );
    }
    return {
      namespaces: done,
      target,
      seconds,
      iam: 'stub',
      rssBeforeBytes,
      rssAfterBytes,
      heapUsedAfterBytes: heap > 0 ? heap : null,
      cacheCheck: { namespaces: checked, iamCalls: (await iamCalls(webhook)) - before },
    };
  } finally {
    client.close();
  }
}

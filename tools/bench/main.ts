#!/usr/bin/env node
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../src/config/load.js';
import { roleSettings } from '../../src/config/settings.js';
import { writeLocalCerts } from '../dev/certs.js';
import { FAKE_CREDENTIALS, MOTO_ACCOUNT_ID, MOTO_REGION, startMoto } from '../dev/moto.js';
import { apiServerPhase } from './apiserver-phase.js';
import { startIamStub } from './iam-stub.js';
import { coalescing, fillCache, hotPath, provisioning, type PhaseContext } from './phases.js';
import {
  rssBytes,
  startBaselineProcess,
  startWebhookProcess,
  type WebhookProcess,
} from './processes.js';
import { machine, render, targets, type MemorySample, type Summary } from './report.js';
import { MOTO_MAX_PROFILES, scalePhase } from './scale-phase.js';
import { renderScale, type ScaleSummary } from './scale-report.js';

const MAX_SCALE = 10_000;

const USAGE = `usage: npm run bench -- [--quick] [--json FILE] [--cpu-prof DIR]
       npm run bench -- --scale N [--iam moto|stub] [--quick] [--json FILE]

Starts moto, the webhook (node dist/bin/cli.js serve) and a baseline fastify HTTPS server on
127.0.0.1, runs bounded load against them and prints a table and, last, one JSON summary line.

  --quick          a smoke run of a few seconds (CI); timings are not meaningful
  --json FILE      also write the JSON summary to FILE
  --cpu-prof DIR   run the main webhook process with --cpu-prof, writing the profile to DIR
  --scale N        instead: N Profiles (at most ${MAX_SCALE}) created through the local API server
                   with the webhook registered, then a reconciling replica over them until a
                   steady full pass; prints creations per second with and without the webhook,
                   IAM calls per new Profile, each pass's time, IAM calls per Profile and RSS
  --iam moto|stub  the IAM server of --scale: moto up to ${MOTO_MAX_PROFILES} Profiles, else the stub
`;

const ISSUER = 'https://oidc.eks.us-east-1.amazonaws.com/id/BENCHMARK0000000000000000000000';

/** Cleanups run in reverse order, once, on success, on error and on SIGINT/SIGTERM. */
class Cleanup {
  private readonly steps: (() => Promise<unknown>)[] = [];
  private running: Promise<void> | undefined;

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        await step().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
      }
    })();
    return this.running;
  }
}

function webhookEnv(certFile: string, keyFile: string, iamEndpoint: string, stsEndpoint: string) {
  return {
    CLUSTER_NAME: 'bench',
    CLUSTER_REGION: MOTO_REGION,
    S3_BUCKET: 'kf-bench-artifacts',
    // The boundary is one more CreateRole parameter; the measured paths do not depend on it.
    ALLOW_NO_BOUNDARY: 'true',
    AWS_ACCOUNT_ID: MOTO_ACCOUNT_ID,
    OIDC_ISSUER: ISSUER,
    TLS_CERT_FILE: certFile,
    TLS_KEY_FILE: keyFile,
    HOST: '127.0.0.1',
    PORT: '0',
    OPS_PORT: '0',
    SHUTDOWN_DELAY_SECONDS: '0',
    ROLE_CACHE_TTL_SECONDS: '86400',
    // The bench measures IAM's path, not the role creation budget: lift it out of the way.
    ROLE_CREATE_RATE: '100',
    ROLE_CREATE_BURST: '1000',
    LOG_LEVEL: 'warn',
    AWS_ENDPOINT_URL_IAM: iamEndpoint,
    AWS_ENDPOINT_URL_STS: stsEndpoint,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
    AWS_PROFILE: '',
  };
}

/** The table, then the JSON summary as the last stdout line (and in `jsonFile`). */
async function emit(summary: object, table: string, jsonFile: string | undefined): Promise<void> {
  const json = JSON.stringify(summary, (_key, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value,
  );
  if (jsonFile !== undefined) await writeFile(jsonFile, `${json}\n`);
  process.stdout.write(`${table}\n\n${json}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      'cpu-prof': { type: 'string' },
      scale: { type: 'string' },
      iam: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const quick = values.quick === true;
  const t0 = performance.now();
  const progress = (message: string) =>
    process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}\n`);
  const cleanup = new Cleanup();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`${signal}: stopping everything the benchmark started`);
      void cleanup.run().then(() => process.exit(130));
    });
  }

  const started = performance.now();
  const host = machine();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'irsa-bench-'));
    cleanup.add(() => rm(dir, { recursive: true, force: true }));
    const certs = await writeLocalCerts(dir);

    if (values.scale !== undefined) {
      const profiles = Number(values.scale);
      if (!Number.isInteger(profiles) || profiles < 1 || profiles > MAX_SCALE) {
        throw new Error(`--scale must be a whole number from 1 to ${MAX_SCALE}`);
      }
      const iam = values.iam ?? (profiles <= MOTO_MAX_PROFILES ? 'moto' : 'stub');
      if (iam !== 'moto' && iam !== 'stub') throw new Error('--iam must be moto or stub');
      const scale = await scalePhase({
        profiles,
        quick,
        iam,
        certFile: certs.certFile,
        keyFile: certs.keyFile,
        caCert: certs.caCert,
        env: (endpoint) => webhookEnv(certs.certFile, certs.keyFile, endpoint, endpoint),
        progress,
      });
      const summary: ScaleSummary = {
        benchmark: 'profile-irsa-webhook',
        mode: 'scale',
        machine: host,
        scale,
        seconds: (performance.now() - started) / 1000,
      };
      await emit(summary, renderScale(summary), values.json);
      return;
    }

    progress('starting moto');
    const moto = await startMoto();
    cleanup.add(() => moto.stop());
    const env = webhookEnv(certs.certFile, certs.keyFile, moto.endpoint, moto.endpoint);
    const loaded = loadConfig({}, env, { tls: true, boundary: true });
    if (!loaded.ok) throw new Error(`benchmark configuration: ${loaded.problems.join('; ')}`);
    const settings = roleSettings(loaded.config, MOTO_ACCOUNT_ID, ISSUER);

    progress('starting the webhook and the baseline server');
    const cpuProf = values['cpu-prof'];
    const webhook = await startWebhookProcess(
      env,
      cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`],
    );
    cleanup.add(() => webhook.stop());
    const baseline = await startBaselineProcess(certs.certFile, certs.keyFile);
    cleanup.add(() => baseline.stop());

    const samples: MemorySample[] = [];
    const sample = async (label: string, of: WebhookProcess, process: MemorySample['process']) =>
      samples.push({ label, process, rssBytes: (await rssBytes(of.pid)) ?? null });
    await sample('after start', webhook, 'webhook');

    const ctx: PhaseContext = {
      quick,
      caCert: certs.caCert,
      webhook,
      baselineUrl: baseline.url,
      baselinePid: baseline.pid,
      settings,
      motoEndpoint: moto.endpoint,
      progress,
      afterWarmUp: () => sample('after warm-up', webhook, 'webhook'),
    };
    progress('1/5 hot path');
    const hot = await hotPath(ctx);
    await sample('after hot path', webhook, 'webhook');
    progress('2/5 provisioning path');
    const prov = await provisioning(ctx);
    await sample('after provisioning', webhook, 'webhook');
    progress('3/5 coalescing');
    const coal = await coalescing(ctx);
    await sample('after coalescing', webhook, 'webhook');

    const fillTarget = quick ? 100 : 10_000;
    progress(`4/5 memory: ${fillTarget} namespaces through the role cache`);
    const stub = await startIamStub(MOTO_ACCOUNT_ID);
    cleanup.add(() => stub.stop());
    const filler = await startWebhookProcess(
      webhookEnv(certs.certFile, certs.keyFile, stub.endpoint, moto.endpoint),
    );
    cleanup.add(() => filler.stop());
    await sample('after start', filler, 'webhook (cache fill)');
    const fill = await fillCache(ctx, filler, fillTarget, quick ? 30_000 : 240_000);
    samples.push({
      label: `after ${fill.namespaces} namespaces cached`,
      process: 'webhook (cache fill)',
      rssBytes: fill.rssAfterBytes,
    });
    await filler.stop();
    await stub.stop();

    progress('5/5 through the API server');
    const apiServer = await apiServerPhase({
      quick,
      admissionUrl: webhook.admissionUrl,
      caCert: certs.caCert,
      progress,
    });

    const known = samples.map((s) => s.rssBytes).filter((b): b is number => b !== null);
    const partial: Omit<Summary, 'targets' | 'seconds'> = {
      benchmark: 'profile-irsa-webhook',
      mode: quick ? 'quick' : 'full',
      machine: host,
      hotPath: hot,
      provisioning: prov,
      coalescing: coal,
      memory: {
        samples,
        cacheFill: fill,
        maxRssBytes: known.length > 0 ? Math.max(...known) : null,
      },
      apiServer,
    };
    await cleanup.run();
    const summary: Summary = {
      ...partial,
      targets: targets(partial),
      seconds: (performance.now() - started) / 1000,
    };
    await emit(summary, render(summary), values.json);
  } finally {
    await cleanup.run();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`benchmark failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);

import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { UpdateAssumeRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { pino, type Logger } from 'pino';
import { deriveRoleSpec, type RoleSpec } from '../../src/core/role-spec.js';
import type { RoleSettings } from '../../src/core/settings.js';
import { createIamClient } from '../../src/iam/client.js';
import type { CreateBudget } from '../../src/iam/create-budget.js';
import { RoleProvisioningError } from '../../src/iam/errors.js';
import { RoleEnsurer, type EnsureResult } from '../../src/iam/role-ensurer.js';
import { createMetrics, type Metrics } from '../../src/metrics/registry.js';
import {
  MOTO_ACCOUNT_ID,
  MOTO_REGION,
  iamClientFor,
  judgedCredentials,
  startMoto,
  type TestMoto,
} from './moto.js';
import { IAM_WRITES } from './iam-proxy.js';
import { testRoleSettings } from './settings.js';

/** What the role ensurer's tests share: moto behind the IAM recorder, settings, a harness. */

export const ISSUER = 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE';
const PROVIDER_ARN = `arn:aws:iam::${MOTO_ACCOUNT_ID}:oidc-provider/${ISSUER}`;
export const BOUNDARY = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/kubeflow-boundary`;

/** The test settings with a boundary, a session duration and an extra tag: every field written. */
export function settings(overrides: Partial<RoleSettings> = {}): RoleSettings {
  return testRoleSettings({
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT_ID,
    oidcIssuer: `https://${ISSUER}`,
    s3Buckets: ['pipelines'],
    permissionsBoundary: BOUNDARY,
    maxSessionDuration: 7200,
    extraTags: { team: 'ml' },
    ...overrides,
  });
}

export interface Harness {
  ensurer: RoleEnsurer;
  metrics: Metrics;
  iam: IAMClient;
  logs: Record<string, unknown>[];
  logger: Logger;
}

interface HarnessOptions {
  mode?: 'provision' | 'lookup';
  now?: () => number;
  endpoint?: string;
  /** The settings its specs are derived with: its IAM calls are judged against their policy. */
  settings?: Partial<RoleSettings>;
  createBudget?: CreateBudget;
}

export interface Rig {
  moto: TestMoto;
  /** Arranges and reads back IAM state behind the ensurer's back; its calls are not counted. */
  raw: IAMClient;
  /** A spec for a namespace no other test of the file uses, so tests need no reset. */
  specFor: (label: string, overrides?: Partial<RoleSettings>) => RoleSpec;
  harness: (options?: HarnessOptions) => Harness;
}

export async function startRig(t: Test): Promise<Rig> {
  const moto = await startMoto();
  t.teardown(() => moto.stop());
  const raw = iamClientFor(moto.endpoint);
  let namespaceCounter = 0;
  return {
    moto,
    raw,
    specFor(label, overrides = {}) {
      namespaceCounter += 1;
      return deriveRoleSpec(settings(overrides), `${label}-${namespaceCounter}`);
    },
    harness(options = {}) {
      return harness(options.endpoint ?? moto.endpoint, options);
    },
  };
}

function harness(endpoint: string, options: HarnessOptions): Harness {
  const metrics = createMetrics({ defaultMetrics: false });
  const mode = options.mode ?? 'provision';
  const iam = createIamClient({
    region: MOTO_REGION,
    endpoint,
    credentials: judgedCredentials({ ...settings(options.settings), mode }),
    metrics,
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      callback();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const ensurer = new RoleEnsurer({
    iam,
    mode,
    cacheTtlMs: 60_000,
    metrics,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.createBudget === undefined ? {} : { createBudget: options.createBudget }),
  });
  return { ensurer, metrics, iam, logs, logger };
}

/**
 * As an admission does it: an UPDATE asks the cache first and reads IAM on a miss; a CREATE goes
 * to IAM, CreateRole first.
 */
export function ensure(
  h: Harness,
  spec: RoleSpec,
  opts: { dryRun?: boolean; signal?: AbortSignal; operation?: 'CREATE' | 'UPDATE' } = {},
): Promise<EnsureResult> {
  const creating = opts.operation === 'CREATE';
  const cached = creating ? undefined : h.ensurer.cached(spec.namespace, spec.roleArn);
  if (cached) return Promise.resolve(cached);
  return h.ensurer.provision(spec, {
    dryRun: opts.dryRun ?? false,
    expectNew: creating,
    signal: opts.signal ?? AbortSignal.timeout(20_000),
    logger: h.logger,
  });
}

/** IAM calls the ensurer made, by operation and outcome, read from its metrics. */
export async function calls(
  metrics: Metrics,
): Promise<{ op: string; outcome: string; n: number }[]> {
  const { values } = await metrics.iamCalls.get();
  return values.map((v) => ({
    op: String(v.labels.operation),
    outcome: String(v.labels.outcome),
    n: v.value,
  }));
}

export async function count(metrics: Metrics, op?: string): Promise<number> {
  return (await calls(metrics))
    .filter((c) => op === undefined || c.op === op)
    .reduce((sum, c) => sum + c.n, 0);
}

export async function writes(metrics: Metrics): Promise<number> {
  return (await calls(metrics))
    .filter((c) => IAM_WRITES.has(c.op))
    .reduce((sum, c) => sum + c.n, 0);
}

/** Drift in the role's trust, made by hand: wildcardTrust. */
export async function widenTrust(iam: IAMClient, spec: RoleSpec): Promise<void> {
  await iam.send(
    new UpdateAssumeRolePolicyCommand({
      RoleName: spec.roleName,
      PolicyDocument: JSON.stringify(wildcardTrust(spec)),
    }),
  );
}

/** A trust policy that admits a whole namespace by pattern: never acceptable. */
export function wildcardTrust(spec: RoleSpec): unknown {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: PROVIDER_ARN },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${ISSUER}:aud`]: 'sts.amazonaws.com' },
          StringLike: { [`${ISSUER}:sub`]: `system:serviceaccount:${spec.namespace}:*` },
        },
      },
    ],
  };
}

export async function rejection(promise: Promise<unknown>): Promise<RoleProvisioningError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RoleProvisioningError) return err;
    throw err;
  }
  throw new Error('expected a RoleProvisioningError, but the promise resolved');
}

/** Holds every call of one IAM command until released; `reached` settles when the first arrives. */
export function holdCommand(
  iam: IAMClient,
  commandName: string,
): { reached: Promise<void>; release(): void } {
  let arrived!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  iam.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === commandName) {
        arrived();
        await released;
      }
      return next(args);
    },
    { step: 'initialize', name: `hold${commandName}` },
  );
  return { reached, release };
}

export async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

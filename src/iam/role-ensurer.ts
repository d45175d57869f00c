import {
  CreateRoleCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import type { Logger } from 'pino';
import { describeDrift, roleDrift, type Drift } from '../core/drift.js';
import { trustAdmits } from '../core/policy-compare.js';
import { roleOwnership, type RoleOwnership, type RoleSpec } from '../core/role-spec.js';
import type { RoleMode } from '../core/settings.js';
import type { Metrics } from '../metrics/registry.js';
import type { CreateBudget } from './create-budget.js';
import {
  RoleProvisioningError,
  boundaryNotSet,
  deadlineError,
  extraPermissions,
  foreignCluster,
  fromAwsError,
  isEntityAlreadyExists,
  isNoSuchEntity,
  notOursBecause,
  readOrMissing,
  roleNotOurs,
} from './errors.js';
import { RoleCache } from './role-cache.js';
import { tagsOf } from './role-tags.js';
import { mayBeSettling, untilIamSettles } from './settling.js';
import { SingleFlight } from './single-flight.js';

type EnsureOutcome =
  'cached' | 'created' | 'verified' | 'repaired' | 'looked-up' | 'would-create' | 'would-repair';

export interface EnsureResult {
  outcome: EnsureOutcome;
  roleArn: string;
  /** For the admission response, which caps their length. */
  warnings: string[];
}

export interface EnsureOptions {
  dryRun: boolean;
  /**
   * The role is probably new (a Profile's CREATE, a role the reconciler found missing): try
   * CreateRole first, and never answer from the cache, since the role may have been deleted
   * since it was cached. Otherwise (an UPDATE, a repair) read first.
   */
  expectNew?: boolean;
  /** The admission deadline; every IAM call is cancelled when it fires. */
  signal: AbortSignal;
  logger: Logger;
}

export interface RoleEnsurerOptions {
  iam: IAMClient;
  mode: RoleMode;
  cacheTtlMs: number;
  metrics: Metrics;
  now?: () => number;
  cacheMaxEntries?: number;
  /** New roles per second this process may make; unbounded when absent. */
  createBudget?: CreateBudget;
}

interface Outcome {
  result: EnsureResult;
  /** Whether the result proves the whole spec is in place, so later admissions may skip IAM. */
  cacheable: boolean;
}

interface CallContext {
  signal: AbortSignal;
  logger: Logger;
  dryRun: boolean;
}

/**
 * Puts a profile's IAM role in the state its RoleSpec describes (docs/admission.md), or proves that a role
 * someone else made is usable, and remembers verified roles so UPDATE admissions make no IAM call.
 */
export class RoleEnsurer {
  private readonly iam: IAMClient;
  private readonly mode: RoleMode;
  private readonly cache: RoleCache;
  private readonly flights = new SingleFlight<Outcome>();
  private readonly createBudget: CreateBudget | undefined;

  constructor(options: RoleEnsurerOptions) {
    this.iam = options.iam;
    this.mode = options.mode;
    this.createBudget = options.createBudget;
    const cacheOptions: ConstructorParameters<typeof RoleCache>[0] = {
      ttlMs: options.cacheTtlMs,
      metrics: options.metrics,
    };
    if (options.now !== undefined) cacheOptions.now = options.now;
    if (options.cacheMaxEntries !== undefined) cacheOptions.maxEntries = options.cacheMaxEntries;
    this.cache = new RoleCache(cacheOptions);
  }

  /**
   * The cache alone, without I/O: the hot path of every UPDATE answers from here without deriving
   * the spec or setting up a deadline or a flight.
   */
  cached(namespace: string, roleArn: string): EnsureResult | undefined {
    return this.cache.has(namespace, roleArn) ? cachedResult(roleArn) : undefined;
  }

  /**
   * IAM, for a caller that has just missed the cache or must not use it: one flight per namespace
   * at a time.
   */
  async provision(spec: RoleSpec, opts: EnsureOptions): Promise<EnsureResult> {
    const expectNew = opts.expectNew === true;
    // A flight that finished since the caller looked may have filled the cache.
    if (!expectNew && this.cache.has(spec.namespace, spec.roleArn, false)) {
      return cachedResult(spec.roleArn);
    }
    if (opts.signal.aborted) throw deadlineError(spec.roleName, opts.signal.reason);

    // Dry runs share flights only with dry runs: a dry run must never wait on (or stand in for)
    // a flight that writes, nor hand a real admission a result that wrote nothing.
    const key = `${opts.dryRun ? 'dry-run' : 'write'}:${spec.namespace}`;
    try {
      const { result } = await this.flights.run(key, opts.signal, async (signal) => {
        const outcome = await this.ensureUncached(spec, { ...opts, signal }, expectNew);
        if (outcome.cacheable) this.cache.set(spec.namespace, outcome.result.roleArn);
        return outcome;
      });
      return { ...result, warnings: [...result.warnings] };
    } catch (err) {
      if (opts.signal.aborted) throw deadlineError(spec.roleName, err);
      throw fromAwsError(err, { roleName: spec.roleName, operation: 'ensure' });
    }
  }

  /** Drops the cached verification, e.g. when a Profile is deleted or a reconcile changed it. */
  forget(namespace: string): void {
    this.cache.delete(namespace);
  }

  private async ensureUncached(
    spec: RoleSpec,
    ctx: CallContext,
    expectNew: boolean,
  ): Promise<Outcome> {
    const writes = this.mode === 'provision' && !ctx.dryRun;
    // Two round trips for a new namespace. Without a token the role is read first, so the
    // budget never holds up a role that exists already.
    if (writes && expectNew && this.takeCreateToken()) return this.createFirst(spec, ctx);
    const role = await this.getRole(spec, ctx);
    if (role !== undefined) return this.judgeExisting(spec, role, ctx);
    if (this.mode === 'lookup') throw roleMissing(spec);
    if (ctx.dryRun) {
      return {
        result: {
          outcome: 'would-create',
          roleArn: spec.roleArn,
          warnings: [`dry run: role ${spec.roleName} does not exist yet and was not created`],
        },
        cacheable: false,
      };
    }
    if (!this.takeCreateToken()) throw createBudgetSpent(spec, this.createBudget);
    return this.createFirst(spec, ctx);
  }

  private takeCreateToken(): boolean {
    return this.createBudget?.tryTake() ?? true;
  }

  /**
   * CreateRole with everything it can carry, then the inline policy; a role that exists already
   * is read and judged instead. Right after a DeleteRole, IAM may still answer CreateRole with
   * EntityAlreadyExists and GetRole with NoSuchEntity: that is waited out.
   */
  private async createFirst(spec: RoleSpec, ctx: CallContext): Promise<Outcome> {
    const existing = await untilIamSettles(
      async () => {
        if (await this.createRole(spec, ctx)) return undefined;
        const role = await this.getRole(spec, ctx);
        if (role === undefined) throw roleNotSettled(spec);
        return role;
      },
      {
        signal: ctx.signal,
        settling: (err) => err instanceof RoleProvisioningError && err.reason === 'iam-settling',
        onRetry: (_err, attempt, delayMs) =>
          ctx.logger.info(
            { roleName: spec.roleName, attempt, retryInMs: Math.round(delayMs) },
            'IAM reports the role both existing and missing (a recent deletion); waiting for it to settle',
          ),
      },
    );
    if (existing !== undefined) return this.judgeExisting(spec, existing, ctx);
    await this.putS3Policy(spec, ctx);
    return { result: { outcome: 'created', roleArn: spec.roleArn, warnings: [] }, cacheable: true };
  }

  /** A role that exists: adopted when it is this cluster's for this profile, else looked up. */
  private judgeExisting(spec: RoleSpec, role: Role, ctx: CallContext): Promise<Outcome> | Outcome {
    if (role.Arn !== spec.roleArn) throw pathMismatch(spec, role);
    const tags = tagsOf(role);
    const ownership = roleOwnership(
      { tags, trustPolicy: role.AssumeRolePolicyDocument },
      spec.owner,
    );
    // Another cluster's role is never written, and never used either: its sessions would reach
    // that cluster's buckets.
    if (ownership.kind === 'other-cluster') throw foreignCluster(spec, ownership);
    if (
      this.mode === 'provision' &&
      ownership.kind === 'owned' &&
      ownership.profile === spec.namespace
    ) {
      return this.adopt(spec, role, tags, ctx);
    }
    return this.lookUp(spec, role, ownership, ctx.logger);
  }

  /** A role someone else manages: never written to, usable only when its trust already fits. */
  private lookUp(spec: RoleSpec, role: Role, ownership: RoleOwnership, logger: Logger): Outcome {
    const verdict = trustAdmits(role.AssumeRolePolicyDocument ?? '', spec.trustPolicy);
    if (!verdict.ok) throw roleNotOurs(spec, ownership, this.mode, verdict.reason);
    if (this.mode === 'lookup') {
      return {
        result: { outcome: 'looked-up', roleArn: spec.roleArn, warnings: [] },
        cacheable: true,
      };
    }
    logger.info(
      { roleName: spec.roleName, ownership: ownership.kind },
      `IAM role ${spec.roleName} ${notOursBecause(spec, ownership)}; used as is, never changed`,
    );
    const warnings = [usedAsIsWarning(spec.roleName, ownership)];
    return { result: { outcome: 'looked-up', roleArn: spec.roleArn, warnings }, cacheable: true };
  }

  /**
   * A role this cluster owns for this profile: bring it to the derived content, with only the
   * writes the shipped IAM policy allows. A role that grants more than ours (managed policies,
   * other inline policies) is not adopted: rewriting its trust would hand those grants to the
   * profile. A boundary is never set on an existing role (see boundaryNotSet).
   */
  private async adopt(
    spec: RoleSpec,
    role: Role,
    tags: Record<string, string>,
    ctx: CallContext,
  ): Promise<Outcome> {
    const name = spec.roleName;
    const [attached, inlineNames, inlinePolicy] = await Promise.all([
      this.attachedPolicies(spec, ctx),
      this.inlinePolicyNames(spec, ctx),
      this.getS3Policy(spec, ctx),
    ]);
    const foreignInline = inlineNames.filter((policy) => policy !== spec.s3Policy.name);
    if (attached.length > 0 || foreignInline.length > 0) {
      throw extraPermissions(spec, attached, foreignInline);
    }
    const boundaryArn = role.PermissionsBoundary?.PermissionsBoundaryArn;
    const all = roleDrift(spec, {
      trustPolicy: role.AssumeRolePolicyDocument,
      inlinePolicy,
      permissionsBoundaryArn: boundaryArn,
      maxSessionDuration: role.MaxSessionDuration,
      tags,
    });
    const boundaryMissing = all.some((item) => item.kind === 'permissions-boundary');
    const drift = all.filter((item) => item.kind !== 'permissions-boundary');
    const what = drift.map(describeDrift).join(', ');
    // Without the configured boundary the policy lets the webhook write nothing to the role.
    if (boundaryMissing && drift.length > 0) throw boundaryNotSet(spec, boundaryArn, what);
    const warnings: string[] = [];
    if (boundaryMissing) {
      ctx.logger.warn(
        { roleName: name, boundary: boundaryArn ?? null, expected: spec.permissionsBoundary },
        boundaryNotSet(spec, boundaryArn, '').message,
      );
      warnings.push(`role ${name} lacks the configured permissions boundary; set it (see logs)`);
    }
    if (drift.length === 0) {
      return { result: { outcome: 'verified', roleArn: spec.roleArn, warnings }, cacheable: true };
    }
    if (ctx.dryRun) {
      return {
        result: {
          outcome: 'would-repair',
          roleArn: spec.roleArn,
          warnings: [`dry run: role ${name} has drifted (${what}) and was not repaired`],
        },
        cacheable: false,
      };
    }
    for (const item of drift) await this.repair(spec, item, ctx);
    return {
      result: {
        outcome: 'repaired',
        roleArn: spec.roleArn,
        warnings: [`role ${name} adopted: ${what} repaired`],
      },
      cacheable: true,
    };
  }

  /** One IAM write per kind of drift, in the order roleDrift gives. */
  private repair(spec: RoleSpec, drift: Drift, ctx: CallContext): Promise<void> {
    const RoleName = spec.roleName;
    const options = { abortSignal: ctx.signal };
    const write = (operation: string, call: () => Promise<unknown>) =>
      this.write(ctx, operation, RoleName, { settles: true }, call);
    switch (drift.kind) {
      case 'trust-policy': {
        const PolicyDocument = JSON.stringify(spec.trustPolicy);
        return write('UpdateAssumeRolePolicy', () =>
          this.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName, PolicyDocument }), options),
        );
      }
      case 'permissions-boundary':
        // adopt() reports it instead: the webhook's IAM policy never sets a boundary.
        throw new Error('a permissions boundary is never repaired');
      case 'inline-policy':
        return this.putS3Policy(spec, ctx);
      case 'max-session-duration':
        return write('UpdateRole', () =>
          this.iam.send(
            new UpdateRoleCommand({ RoleName, MaxSessionDuration: drift.seconds }),
            options,
          ),
        );
      case 'tags': {
        const Tags = Object.entries(drift.tags).map(([Key, Value]) => ({ Key, Value }));
        return write('TagRole', () =>
          this.iam.send(new TagRoleCommand({ RoleName, Tags }), options),
        );
      }
    }
  }

  /** True when this call created the role; false when it already existed. */
  private async createRole(spec: RoleSpec, ctx: CallContext): Promise<boolean> {
    try {
      // Not waited out on NoSuchEntity: for CreateRole that means the boundary policy is missing.
      await this.write(ctx, 'CreateRole', spec.roleName, { settles: false }, () =>
        this.iam.send(
          new CreateRoleCommand({
            RoleName: spec.roleName,
            Path: spec.rolePath,
            AssumeRolePolicyDocument: JSON.stringify(spec.trustPolicy),
            Description: `IRSA role of Kubeflow profile ${spec.namespace}, managed by profile-irsa-webhook`,
            // The ownership tags go in the same call, so no role of ours ever exists untagged.
            Tags: Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })),
            PermissionsBoundary: spec.permissionsBoundary,
            MaxSessionDuration: spec.maxSessionDuration,
          }),
          { abortSignal: ctx.signal },
        ),
      );
      return true;
    } catch (err) {
      // write() has turned the SDK's error into ours; the IAM error it came from is its cause.
      if (err instanceof RoleProvisioningError && isEntityAlreadyExists(err.cause)) {
        ctx.logger.info({ roleName: spec.roleName }, 'IAM role exists already; verifying it');
        return false;
      }
      throw err;
    }
  }

  private putS3Policy(spec: RoleSpec, ctx: CallContext): Promise<void> {
    return this.write(ctx, 'PutRolePolicy', spec.roleName, { settles: true }, () =>
      this.iam.send(
        new PutRolePolicyCommand({
          RoleName: spec.roleName,
          PolicyName: spec.s3Policy.name,
          PolicyDocument: JSON.stringify(spec.s3Policy.document),
        }),
        { abortSignal: ctx.signal },
      ),
    );
  }

  private getRole(spec: RoleSpec, ctx: CallContext): Promise<Role | undefined> {
    return this.read(ctx, 'GetRole', spec.roleName, async () => {
      const out = await this.iam.send(new GetRoleCommand({ RoleName: spec.roleName }), {
        abortSignal: ctx.signal,
      });
      return out.Role;
    });
  }

  /** The managed policies attached to the role (the first page: one is already too many). */
  private async attachedPolicies(spec: RoleSpec, ctx: CallContext): Promise<string[]> {
    const out = await this.readOfRoleSeen(ctx, 'ListAttachedRolePolicies', spec.roleName, () =>
      this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: spec.roleName }), {
        abortSignal: ctx.signal,
      }),
    );
    return (out.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? p.PolicyName ?? '(unnamed)');
  }

  private async inlinePolicyNames(spec: RoleSpec, ctx: CallContext): Promise<string[]> {
    const out = await this.readOfRoleSeen(ctx, 'ListRolePolicies', spec.roleName, () =>
      this.iam.send(new ListRolePoliciesCommand({ RoleName: spec.roleName }), {
        abortSignal: ctx.signal,
      }),
    );
    const names = out.PolicyNames ?? [];
    // A truncated page holds more than ours whatever it lists.
    return out.IsTruncated === true ? [...names, '(more)'] : names;
  }

  private getS3Policy(spec: RoleSpec, ctx: CallContext): Promise<string | undefined> {
    return this.read(ctx, 'GetRolePolicy', spec.roleName, async () => {
      const out = await this.iam.send(
        new GetRolePolicyCommand({ RoleName: spec.roleName, PolicyName: spec.s3Policy.name }),
        { abortSignal: ctx.signal },
      );
      return out.PolicyDocument;
    });
  }

  private read<T>(
    ctx: CallContext,
    operation: string,
    roleName: string,
    call: () => Promise<T>,
  ): Promise<T | undefined> {
    return readOrMissing({ roleName, operation, signal: ctx.signal }, call);
  }

  /**
   * A read of a role this flight has just seen: NoSuchEntity is IAM settling (or the role was
   * deleted that instant), never "nothing attached", so it is waited out and then reported.
   */
  private async readOfRoleSeen<T>(
    ctx: CallContext,
    operation: string,
    roleName: string,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      return await this.settled(ctx, operation, roleName, call);
    } catch (err) {
      throw isNoSuchEntity(err)
        ? notYetVisible(roleName, operation, err)
        : fromAwsError(err, { roleName, operation, signal: ctx.signal });
    }
  }

  /**
   * An IAM write. `settles`: the role is known to exist (this flight created or read it), so
   * NoSuchEntity is IAM not showing it yet everywhere and is waited out within the deadline.
   */
  private async write(
    ctx: CallContext,
    operation: string,
    roleName: string,
    options: { settles: boolean },
    call: () => Promise<unknown>,
  ): Promise<void> {
    if (ctx.dryRun) {
      // Unreachable by construction; kept as a guard because a dry-run write is a real side effect.
      throw new Error(`refusing IAM ${operation} during a dry run`);
    }
    try {
      await (options.settles ? this.settled(ctx, operation, roleName, call) : call());
    } catch (err) {
      if (options.settles && isNoSuchEntity(err) && !ctx.signal.aborted) {
        throw notYetVisible(roleName, operation, err);
      }
      throw fromAwsError(err, { roleName, operation, signal: ctx.signal });
    }
    ctx.logger.info({ roleName, iamAction: operation }, `IAM ${operation} done`);
  }

  private settled<T>(
    ctx: CallContext,
    operation: string,
    roleName: string,
    call: () => Promise<T>,
  ): Promise<T> {
    return untilIamSettles(call, {
      signal: ctx.signal,
      settling: (err) => mayBeSettling(err, 'after-create'),
      onRetry: (_err, attempt, delayMs) =>
        ctx.logger.info(
          { roleName, iamAction: operation, attempt, retryInMs: Math.round(delayMs) },
          'IAM does not show the role yet (it is eventually consistent); waiting for it',
        ),
    });
  }
}

function cachedResult(roleArn: string): EnsureResult {
  return { outcome: 'cached', roleArn, warnings: [] };
}

function usedAsIsWarning(roleName: string, ownership: RoleOwnership): string {
  return ownership.kind === 'unmanaged'
    ? `role ${roleName} is not managed by profile-irsa-webhook and is used as is`
    : `role ${roleName} is not this cluster's to manage and is used as is (see logs)`;
}

/** CreateRole said the role exists and GetRole says it does not: IAM is still settling. */
function roleNotSettled(spec: RoleSpec): RoleProvisioningError {
  return new RoleProvisioningError(
    'iam-settling',
    spec.roleName,
    `IAM reports role ${spec.roleName} both existing (CreateRole) and missing (GetRole), as it ` +
      'does for a while after the role was deleted; retrying may help',
    { retryable: true },
  );
}

function notYetVisible(roleName: string, operation: string, cause: unknown): RoleProvisioningError {
  return new RoleProvisioningError(
    'iam-settling',
    roleName,
    `IAM ${operation} still answers NoSuchEntity for role ${roleName}, which was just created ` +
      'or read (IAM is eventually consistent); retrying may help',
    { retryable: true, cause },
  );
}

function createBudgetSpent(
  spec: RoleSpec,
  budget: CreateBudget | undefined,
): RoleProvisioningError {
  const rate =
    budget === undefined ? '' : ` (${budget.perSecond} a second, bursts of ${budget.burst})`;
  const wait = budget === undefined ? 1 : Math.max(1, Math.ceil(budget.msUntilNext() / 1000));
  return new RoleProvisioningError(
    'rate-limited',
    spec.roleName,
    `the webhook creates new IAM roles at a bounded rate${rate} and that budget is spent, so ` +
      `role ${spec.roleName} was not created; retrying in ${wait} s or later will help`,
    { retryable: true },
  );
}

function roleMissing(spec: RoleSpec): RoleProvisioningError {
  return new RoleProvisioningError(
    'role-missing',
    spec.roleName,
    `IAM role ${spec.roleArn} does not exist and the webhook runs in lookup mode, so it will not ` +
      'create it; create the role, then retry',
    { retryable: false },
  );
}

function pathMismatch(spec: RoleSpec, role: Role): RoleProvisioningError {
  return new RoleProvisioningError(
    'path-mismatch',
    spec.roleName,
    `IAM role ${spec.roleName} exists as ${role.Arn ?? '(unknown ARN)'}, not as the expected ` +
      `${spec.roleArn}; move or rename the role, or configure its path; retrying will not help`,
    { retryable: false },
  );
}

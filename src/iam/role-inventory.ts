import {
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListInstanceProfilesForRoleCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  ListRoleTagsCommand,
  TagRoleCommand,
  UntagRoleCommand,
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import type { Logger } from 'pino';
import type { InventoryRole, RoleAttachments } from '../core/reconcile-observed.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorName, fromAwsError, isNoSuchEntity, readOrMissing } from './errors.js';
import { tagsOf } from './role-tags.js';

export interface RoleInventoryOptions {
  /** The reconciler's own client: rate-limited, so admissions never queue behind it. */
  iam: IAMClient;
  rolePath: string;
  logger: Logger;
  /** MaxItems of every list call (IAM's default is 100, its maximum 1,000). */
  pageSize?: number | undefined;
  /** Waits between DeleteRole attempts that IAM refused with DeleteConflict. */
  deleteConflictDelaysMs?: readonly number[] | undefined;
}

/**
 * Right after DeleteRolePolicy, IAM may still count the policy and refuse DeleteRole with
 * DeleteConflict for a few seconds (eventual consistency): a few attempts, each after a fresh
 * look at the role's inline policies.
 */
const DELETE_CONFLICT_DELAYS_MS = [1000, 2000, 4000];

/** The role under that name is not the one judged an orphan: it was deleted and made again. */
export class RoleReplacedError extends Error {
  override readonly name = 'RoleReplacedError';
  constructor(
    readonly roleName: string,
    readonly expectedRoleId: string | undefined,
    readonly foundRoleId: string | undefined,
  ) {
    super(
      foundRoleId === undefined
        ? `role ${roleName} is gone already`
        : `role ${roleName} is now ${foundRoleId}, not ${expectedRoleId ?? '(unknown)'} as judged: it was made again, so it is kept`,
    );
  }
}

export interface DeleteRoleOptions {
  /** Only the role with this id is deleted (checked before each step). */
  roleId: string | undefined;
  /** Its inline policies as planned; listed afresh only when IAM refuses the deletion. */
  inlinePolicies?: readonly string[] | undefined;
  /** Runs before each deletion step; throws to stop the deletion (the role is kept). */
  beforeStep: () => Promise<void>;
}

/**
 * The reconciler's reads of IAM, and its only deletion. Roles are listed under the role path
 * only, so roles elsewhere in the account are never even read. Every failure surfaces as a
 * RoleProvisioningError (what failed, which role, whether a retry can help).
 */
export class RoleInventory {
  private readonly iam: IAMClient;
  private readonly rolePath: string;
  private readonly logger: Logger;
  private readonly pageSize: number;
  private readonly deleteConflictDelaysMs: readonly number[];

  constructor(options: RoleInventoryOptions) {
    this.iam = options.iam;
    this.rolePath = options.rolePath;
    this.logger = options.logger;
    this.pageSize = options.pageSize ?? 100;
    this.deleteConflictDelaysMs = options.deleteConflictDelaysMs ?? DELETE_CONFLICT_DELAYS_MS;
  }

  /**
   * One page of the roles under the role path (ListRoles returns no tags and no boundary);
   * `marker` is undefined after the last page.
   */
  async listRoles(
    marker: string | undefined,
    signal: AbortSignal,
  ): Promise<{ roles: InventoryRole[]; marker: string | undefined }> {
    const page = await this.call('ListRoles', this.rolePath, signal, () =>
      this.iam.send(
        new ListRolesCommand({
          PathPrefix: this.rolePath,
          Marker: marker,
          MaxItems: this.pageSize,
        }),
        { abortSignal: signal },
      ),
    );
    const roles = (page.Roles ?? [])
      // PathPrefix matches deeper paths too; only roles exactly at the role path can be ours.
      .filter((role) => role.Path === this.rolePath && role.RoleName !== undefined)
      .map((role) => inventoryRole(role, {}));
    return { roles, marker: page.IsTruncated === true ? page.Marker : undefined };
  }

  async tags(roleName: string, signal: AbortSignal): Promise<Record<string, string>> {
    const tags: Record<string, string> = {};
    let marker: string | undefined;
    do {
      const page = await this.call('ListRoleTags', roleName, signal, () =>
        this.iam.send(
          new ListRoleTagsCommand({ RoleName: roleName, Marker: marker, MaxItems: this.pageSize }),
          {
            abortSignal: signal,
          },
        ),
      );
      for (const tag of page.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
      marker = page.IsTruncated === true ? page.Marker : undefined;
    } while (marker !== undefined);
    return tags;
  }

  /** The role by name, wherever its path (a same-named role elsewhere must be reported). */
  async getRole(roleName: string, signal: AbortSignal): Promise<InventoryRole | undefined> {
    const out = await this.read('GetRole', roleName, signal, () =>
      this.iam.send(new GetRoleCommand({ RoleName: roleName }), { abortSignal: signal }),
    );
    const role = out?.Role;
    if (role === undefined) return undefined;
    return inventoryRole(role, tagsOf(role), {
      permissionsBoundaryArn: role.PermissionsBoundary?.PermissionsBoundaryArn,
    });
  }

  /** The boundary (GetRole), when a boundary is configured and so must be compared. */
  async permissionsBoundary(roleName: string, signal: AbortSignal): Promise<string | undefined> {
    const out = await this.read('GetRole', roleName, signal, () =>
      this.iam.send(new GetRoleCommand({ RoleName: roleName }), { abortSignal: signal }),
    );
    return out?.Role?.PermissionsBoundary?.PermissionsBoundaryArn;
  }

  async inlinePolicy(
    roleName: string,
    policyName: string,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const out = await this.read('GetRolePolicy', roleName, signal, () =>
      this.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }), {
        abortSignal: signal,
      }),
    );
    return out?.PolicyDocument;
  }

  async attachments(roleName: string, signal: AbortSignal): Promise<RoleAttachments> {
    const inlinePolicies = await this.inlinePolicyNames(roleName, signal);
    const managedPolicies: string[] = [];
    let marker: string | undefined;
    do {
      const page = await this.call('ListAttachedRolePolicies', roleName, signal, () =>
        this.iam.send(
          new ListAttachedRolePoliciesCommand({
            RoleName: roleName,
            Marker: marker,
            MaxItems: this.pageSize,
          }),
          { abortSignal: signal },
        ),
      );
      for (const policy of page.AttachedPolicies ?? []) {
        managedPolicies.push(policy.PolicyArn ?? policy.PolicyName ?? '(unnamed)');
      }
      marker = page.IsTruncated === true ? page.Marker : undefined;
    } while (marker !== undefined);
    const instanceProfiles: string[] = [];
    do {
      const page = await this.call('ListInstanceProfilesForRole', roleName, signal, () =>
        this.iam.send(
          new ListInstanceProfilesForRoleCommand({
            RoleName: roleName,
            Marker: marker,
            MaxItems: this.pageSize,
          }),
          { abortSignal: signal },
        ),
      );
      for (const profile of page.InstanceProfiles ?? []) {
        instanceProfiles.push(profile.InstanceProfileName ?? '(unnamed)');
      }
      marker = page.IsTruncated === true ? page.Marker : undefined;
    } while (marker !== undefined);
    return { inlinePolicies, managedPolicies, instanceProfiles };
  }

  /** Sets tags on a role (the shipped policy allows only the bookkeeping tags on our roles). */
  async tagRole(
    roleName: string,
    tags: Record<string, string>,
    signal: AbortSignal,
  ): Promise<void> {
    await this.call('TagRole', roleName, signal, () =>
      this.iam.send(
        new TagRoleCommand({
          RoleName: roleName,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
        { abortSignal: signal },
      ),
    );
    this.logger.info({ roleName, tags, iamAction: 'TagRole' }, 'IAM TagRole done');
  }

  async untagRole(roleName: string, keys: string[], signal: AbortSignal): Promise<void> {
    await this.call('UntagRole', roleName, signal, () =>
      this.iam.send(new UntagRoleCommand({ RoleName: roleName, TagKeys: keys }), {
        abortSignal: signal,
      }),
    );
    this.logger.info({ roleName, keys, iamAction: 'UntagRole' }, 'IAM UntagRole done');
  }

  /**
   * Deletes the role judged an orphan: its inline policies first (IAM refuses to delete a role
   * that has any), then the role. Before the inline policies go, and again right before the role
   * goes, the role must still be the one judged (same RoleId) and `beforeStep` must pass (the
   * caller re-reads the Profile there): two checks, however many policies, because each costs
   * an IAM call from the rate deletions share. Attached
   * managed policies and instance profiles are never detached here: the caller leaves such a
   * role alone, and IAM's DeleteConflict stops a race.
   */
  async deleteRole(
    roleName: string,
    options: DeleteRoleOptions,
    signal: AbortSignal,
  ): Promise<{ inlinePolicies: string[] }> {
    const deleted: string[] = [];
    for (let attempt = 0; ; attempt++) {
      await this.pinned(roleName, options, signal);
      const policies =
        attempt === 0 && options.inlinePolicies !== undefined
          ? options.inlinePolicies
          : await this.inlinePolicyNames(roleName, signal);
      for (const policyName of policies) {
        await this.call('DeleteRolePolicy', roleName, signal, async () => {
          try {
            await this.iam.send(
              new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
              { abortSignal: signal },
            );
          } catch (err) {
            // Deleted by an earlier attempt whose answer IAM had not caught up with.
            if (!isNoSuchEntity(err)) throw err;
          }
        });
        deleted.push(policyName);
        this.logger.info(
          { roleName, policyName, iamAction: 'DeleteRolePolicy' },
          'IAM DeleteRolePolicy done',
        );
      }
      await this.pinned(roleName, options, signal);
      try {
        await this.iam.send(new DeleteRoleCommand({ RoleName: roleName }), {
          abortSignal: signal,
        });
      } catch (err) {
        const delay = this.deleteConflictDelaysMs[attempt];
        if (isDeleteConflict(err) && delay !== undefined && !signal.aborted) {
          this.logger.info(
            { roleName, iamAction: 'DeleteRole', retryInMs: delay },
            'IAM DeleteRole: DeleteConflict right after deleting its policies; trying again',
          );
          await sleep(delay, undefined, { signal }).catch(() => undefined);
          continue;
        }
        throw fromAwsError(err, { roleName, operation: 'DeleteRole', signal });
      }
      this.logger.info({ roleName, iamAction: 'DeleteRole' }, 'IAM DeleteRole done');
      return { inlinePolicies: [...new Set(deleted)] };
    }
  }

  /** Throws unless the role under that name is still the one with the pinned RoleId. */
  private async pinned(
    roleName: string,
    options: DeleteRoleOptions,
    signal: AbortSignal,
  ): Promise<void> {
    await options.beforeStep();
    if (options.roleId === undefined) return;
    const out = await this.read('GetRole', roleName, signal, () =>
      this.iam.send(new GetRoleCommand({ RoleName: roleName }), { abortSignal: signal }),
    );
    const found = out?.Role?.RoleId;
    if (found !== options.roleId) throw new RoleReplacedError(roleName, options.roleId, found);
  }

  private async inlinePolicyNames(roleName: string, signal: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    let marker: string | undefined;
    do {
      const page = await this.call('ListRolePolicies', roleName, signal, () =>
        this.iam.send(
          new ListRolePoliciesCommand({
            RoleName: roleName,
            Marker: marker,
            MaxItems: this.pageSize,
          }),
          { abortSignal: signal },
        ),
      );
      names.push(...(page.PolicyNames ?? []));
      marker = page.IsTruncated === true ? page.Marker : undefined;
    } while (marker !== undefined);
    return names;
  }

  private read<T>(
    operation: string,
    roleName: string,
    signal: AbortSignal,
    call: () => Promise<T>,
  ): Promise<T | undefined> {
    return readOrMissing({ roleName, operation, signal }, call);
  }

  private async call<T>(
    operation: string,
    roleName: string,
    signal: AbortSignal,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw fromAwsError(err, { roleName, operation, signal });
    }
  }
}

function inventoryRole(
  role: Role,
  tags: Record<string, string>,
  extra: Partial<InventoryRole> = {},
): InventoryRole {
  return {
    roleName: role.RoleName!,
    arn: role.Arn ?? '',
    roleId: role.RoleId,
    createdAt: role.CreateDate?.getTime(),
    tags,
    trustPolicy: role.AssumeRolePolicyDocument,
    maxSessionDuration: role.MaxSessionDuration,
    ...extra,
  };
}

function isDeleteConflict(err: unknown): boolean {
  const name = errorName(err);
  return name === 'DeleteConflict' || name === 'DeleteConflictException';
}

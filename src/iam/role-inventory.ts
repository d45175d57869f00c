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
  type IAMClient,
  type Role,
} from '@aws-sdk/client-iam';
import type { Logger } from 'pino';
import type { InventoryRole, RoleAttachments } from '../core/reconcile-observed.js';
import { fromAwsError } from './errors.js';
import { readOrMissing, tagsOf } from './reads.js';

export interface RoleInventoryOptions {
  /** The reconciler's own client: rate-limited, so admissions never queue behind it. */
  iam: IAMClient;
  rolePath: string;
  logger: Logger;
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

  constructor(options: RoleInventoryOptions) {
    this.iam = options.iam;
    this.rolePath = options.rolePath;
    this.logger = options.logger;
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
        new ListRolesCommand({ PathPrefix: this.rolePath, Marker: marker, MaxItems: 100 }),
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
        this.iam.send(new ListRoleTagsCommand({ RoleName: roleName, Marker: marker }), {
          abortSignal: signal,
        }),
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
        this.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker: marker }), {
          abortSignal: signal,
        }),
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
          new ListInstanceProfilesForRoleCommand({ RoleName: roleName, Marker: marker }),
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

  /**
   * Deletes a role: its inline policies first (IAM refuses to delete a role that has any), then
   * the role. Attached managed policies and instance profiles are never detached here: the
   * caller leaves such a role alone, and IAM's DeleteConflict stops a race.
   */
  async deleteRole(roleName: string, signal: AbortSignal): Promise<{ inlinePolicies: string[] }> {
    const inlinePolicies = await this.inlinePolicyNames(roleName, signal);
    for (const policyName of inlinePolicies) {
      await this.call('DeleteRolePolicy', roleName, signal, () =>
        this.iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }), {
          abortSignal: signal,
        }),
      );
      this.logger.info(
        { roleName, policyName, iamAction: 'DeleteRolePolicy' },
        'IAM DeleteRolePolicy done',
      );
    }
    await this.call('DeleteRole', roleName, signal, () =>
      this.iam.send(new DeleteRoleCommand({ RoleName: roleName }), { abortSignal: signal }),
    );
    this.logger.info({ roleName, iamAction: 'DeleteRole' }, 'IAM DeleteRole done');
    return { inlinePolicies };
  }

  private async inlinePolicyNames(roleName: string, signal: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    let marker: string | undefined;
    do {
      const page = await this.call('ListRolePolicies', roleName, signal, () =>
        this.iam.send(new ListRolePoliciesCommand({ RoleName: roleName, Marker: marker }), {
          abortSignal: signal,
        }),
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
    createdAt: role.CreateDate?.getTime(),
    tags,
    trustPolicy: role.AssumeRolePolicyDocument,
    maxSessionDuration: role.MaxSessionDuration,
    ...extra,
  };
}

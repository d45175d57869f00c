import type { RoleSpec } from '../../src/core/role-spec.js';
import type { RoleProvider } from '../../src/webhook/admit.js';

/** Stands in for IAM in tests of the pure decisions: records what the webhook asked for. */
export class RecordingRoles implements RoleProvider {
  readonly calls: { spec: RoleSpec; dryRun: boolean }[] = [];
  /** Role cache lookups: an answer from the request alone makes none. */
  lookups = 0;

  cached() {
    this.lookups++;
    return undefined;
  }

  async provision(spec: RoleSpec, options: { dryRun: boolean }) {
    this.calls.push({ spec, dryRun: options.dryRun });
    return {
      roleArn: spec.roleArn,
      outcome: options.dryRun ? 'would-create' : 'created',
      warnings: [],
    };
  }
}

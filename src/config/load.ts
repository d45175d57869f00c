import { configSchema, type Config } from './schema.js';
import { describeSource, mergeSources, SERVE_OPTIONS } from './options.js';

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Reads every source and reports every problem at once, so one restart fixes them all. */
export function loadConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  needs: { tls?: boolean; lease?: boolean; boundary?: boolean } = {},
): ConfigResult {
  const raw = mergeSources(SERVE_OPTIONS, flags, env);
  const parsed = configSchema.safeParse(raw);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '');
        return key ? `${describeSource(SERVE_OPTIONS, key)}: ${issue.message}` : issue.message;
      });
  if (needs.tls) {
    for (const key of ['tlsCertFile', 'tlsKeyFile']) {
      if (!raw[key]) problems.push(`${describeSource(SERVE_OPTIONS, key)}: is required to serve`);
    }
  }
  // The reconciler's Lease lives in the webhook's own namespace (the chart sets POD_NAMESPACE).
  if (needs.lease && raw['reconcile'] === 'true' && !raw['podNamespace']) {
    problems.push(
      `${describeSource(SERVE_OPTIONS, 'podNamespace')}: is required while the reconciler runs ` +
        '(the namespace of its Lease); or set --reconcile false',
    );
  }
  // Commands that create roles need the boundary; `iam-policy --boundary` prints it before it exists.
  if (
    needs.boundary &&
    raw['mode'] === 'provision' &&
    !raw['permissionsBoundary']?.trim() &&
    raw['allowNoBoundary'] !== 'true'
  ) {
    problems.push(
      `${describeSource(SERVE_OPTIONS, 'permissionsBoundary')}: is required in provision mode: ` +
        'without a boundary, stolen webhook credentials can take over any untagged role under the ' +
        'role path. Create it with `profile-irsa-webhook iam-policy --boundary`, or waive it with ' +
        '--allow-no-boundary=true',
    );
  }
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: parsed.data };
}

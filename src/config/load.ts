import { configSchema, type Config } from './schema.js';
import { describeSource, mergeSources, SERVE_OPTIONS } from './options.js';

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Reads every source and reports every problem at once, so one restart fixes them all. */
export function loadConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  needs: { tls?: boolean; lease?: boolean } = {},
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
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: parsed.data };
}

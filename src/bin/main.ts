import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { loadConfig } from '../config/load.js';
import { booleanFlagValue, isBooleanOption, SERVE_OPTIONS } from '../config/options.js';
import { policySettings } from '../config/settings.js';
import { parseDuration } from '../core/duration.js';
import { iamPolicy } from '../commands/iam-policy.js';
import { plan, PlanInputError, planInput } from '../commands/plan.js';
import { resolveRoleSettings } from '../commands/resolve.js';
import { serve } from '../commands/serve.js';
import { DiscoveryError } from '../discovery/errors.js';
import { createLogger } from '../log/logger.js';
import type { Config } from '../config/schema.js';

/** Exit code for configuration a user must fix. */
const BAD_CONFIG = 2;
/** IAM's quota for a customer managed policy document, whitespace not counted. */
const MANAGED_POLICY_MAX = 6144;

/**
 * A boolean flag in the Kubernetes convention: `--name` alone means true, `--name=false` false.
 * Its value is the text the settings take ('true' or 'false').
 */
function booleanOption(name: string, description: string): Option {
  return new Option(`${name} [bool]`, description).preset('true').argParser((text: string) => {
    const value = booleanFlagValue(text);
    if (value === undefined) {
      throw new InvalidArgumentError(`give true or false (${name} alone means true)`);
    }
    return value;
  });
}

function withSettings(command: Command, skip: string[] = []): Command {
  for (const spec of SERVE_OPTIONS) {
    if (skip.includes(spec.key)) continue;
    const defaults =
      spec.default !== undefined && spec.default !== '' ? `, default ${spec.default}` : '';
    const description = `${spec.description} [env ${spec.env.join(', ')}${defaults}]`;
    command.addOption(
      isBooleanOption(spec)
        ? booleanOption(spec.flag.split(' ')[0]!, description)
        : new Option(spec.flag, description),
    );
  }
  return command;
}

function configOrExit(
  flags: Record<string, unknown>,
  needs: { tls?: boolean; lease?: boolean; boundary?: boolean },
): Config {
  const result = loadConfig(flags, process.env, needs);
  if (result.ok) return result.config;
  process.stderr.write(
    `invalid configuration:\n${result.problems.map((p) => `  - ${p}`).join('\n')}\n`,
  );
  process.exit(BAD_CONFIG);
}

function fail(error: unknown): never {
  const known = error instanceof DiscoveryError || error instanceof PlanInputError;
  process.stderr.write(
    `error: ${known ? (error as Error).message : String((error as Error)?.stack ?? error)}\n`,
  );
  process.exit(known ? BAD_CONFIG : 1);
}

const program = new Command('profile-irsa-webhook')
  .description('Admission webhook that provisions IRSA roles for Kubeflow Profiles')
  .showHelpAfterError()
  .exitOverride();

withSettings(
  program
    .command('serve')
    .description('run the mutating and validating webhook (HTTPS) and the ops endpoints (HTTP)'),
).action(async (flags: Record<string, unknown>) => {
  const config = configOrExit(flags, { tls: true, lease: true, boundary: true });
  await serve(config, createLogger(config.logLevel)).catch(fail);
});

withSettings(
  program
    .command('plan')
    .description(
      'print, as JSON, what the webhook would do for a Profile (no AWS calls when --account-id and --oidc-issuer are given)',
    )
    .option('--namespace <namespace>', 'the Profile name (its namespace)')
    .option('--profile <file>', 'a Profile manifest (YAML or JSON)'),
  ['tlsCertFile', 'tlsKeyFile', 'host', 'port', 'opsPort', 'shutdownDelaySeconds'],
).action(async (flags: Record<string, unknown>) => {
  const config = configOrExit(flags, {});
  try {
    const profile = await planInput(flags);
    const role = await resolveRoleSettings(config);
    process.stdout.write(
      `${JSON.stringify(plan(profile, role, policySettings(config)), null, 2)}\n`,
    );
  } catch (error) {
    fail(error);
  }
});

withSettings(
  program
    .command('iam-policy')
    .description(
      "print, as JSON, the webhook's own least-privilege IAM policy for this configuration (no AWS calls when --account-id and --oidc-issuer are given)",
    )
    .addOption(
      booleanOption(
        '--boundary',
        'print the permissions boundary policy for the roles it creates instead',
      ),
    ),
  ['tlsCertFile', 'tlsKeyFile', 'host', 'port', 'opsPort', 'shutdownDelaySeconds'],
).action(async (flags: Record<string, unknown>) => {
  const config = configOrExit(flags, {});
  try {
    const document = await iamPolicy(config, { boundary: flags['boundary'] === 'true' });
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
    // IAM counts a managed policy without whitespace; an inline policy may be 10,240.
    const size = JSON.stringify(document).length;
    if (size > MANAGED_POLICY_MAX) {
      process.stderr.write(
        `warning: the policy has ${size} characters, more than the ${MANAGED_POLICY_MAX} of a ` +
          'managed policy; put it on the role as an inline policy (aws iam put-role-policy)\n',
      );
    }
  } catch (error) {
    fail(error);
  }
});

withSettings(
  program
    .command('reconcile')
    .description(
      'one reconcile pass over every Profile and role of this cluster: a table of what is out of place (dry run unless --apply)',
    )
    .addOption(
      booleanOption(
        '--apply',
        'act: create and repair roles, add plugins, annotate, delete orphans (per --orphan-policy)',
      ),
    )
    .addOption(
      new Option('-o, --output <format>', 'table or json')
        .choices(['table', 'json'])
        .default('table'),
    ),
  [
    'tlsCertFile',
    'tlsKeyFile',
    'host',
    'port',
    'opsPort',
    'shutdownDelaySeconds',
    'reconcile',
    'reconcileInterval',
    'leaderElectionLease',
    'podName',
  ],
).action(async (flags: Record<string, unknown>) => {
  const config = configOrExit(flags, { boundary: true });
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  try {
    // Loaded here, like doctor: `serve` without the reconciler never loads the Kubernetes client.
    const { runReconcile } = await import('../commands/reconcile.js');
    const code = await runReconcile(
      config,
      {
        apply: flags['apply'] === 'true',
        output: flags['output'] as 'table' | 'json',
        signal: stop.signal,
      },
      {
        // The report owns stdout; logs of every action go to stderr.
        logger: createLogger(config.logLevel, pino.destination(2)),
        write: (text) => process.stdout.write(text),
      },
    );
    process.exitCode = code;
  } catch (error) {
    fail(error);
  }
});

withSettings(
  program
    .command('doctor')
    .description(
      'check the configuration, AWS (credentials, OIDC provider, permissions) and the cluster (CRD, webhook registrations, certificate, endpoints, Lease, a dry-run Profile); exit 1 when a check fails',
    )
    .addOption(
      new Option('-o, --output <format>', 'text or json (one document)')
        .choices(['text', 'json'])
        .default('text'),
    )
    .option(
      '--wait <duration>',
      'retry failing checks until they pass or this time is up (e.g. 2m)',
      '0',
    ),
  ['tlsCertFile', 'tlsKeyFile', 'host', 'port', 'opsPort', 'shutdownDelaySeconds', 'logLevel'],
).action(async (flags: Record<string, unknown>) => {
  const waitMs = parseDuration(String(flags.wait));
  if (waitMs === undefined) {
    process.stderr.write(
      `invalid --wait ${String(flags.wait)}: give a duration such as 90s, 5m or 1h\n`,
    );
    process.exit(BAD_CONFIG);
  }
  // Loaded here: the Kubernetes and STS clients must not weigh on `serve`'s memory.
  const { doctor } = await import('../commands/doctor.js');
  const run = await doctor(
    flags,
    process.env,
    { output: flags.output === 'json' ? 'json' : 'text', waitMs },
    (line) => process.stderr.write(`${line}\n`),
  );
  // Exit once the report is written: idle keep-alive sockets must not hold the process.
  process.stdout.write(run.text, () => process.exit(run.exitCode));
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are successes; any other usage error is configuration to fix.
    process.exit(error.exitCode === 0 ? 0 : BAD_CONFIG);
  }
  fail(error);
}

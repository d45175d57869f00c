import { loadConfig } from '../config/load.js';
import { SERVE_OPTIONS } from '../config/options.js';
import { CHECKS } from '../doctor/checks.js';
import { formatDuration } from '../core/duration.js';
import { createAwsGatherers } from '../doctor/gather-aws.js';
import { createKubernetesGatherers } from '../doctor/gather-kubernetes.js';
import { gatherFacts } from '../doctor/gather.js';
import { renderJson, renderText } from '../doctor/render.js';
import { badConfigurationReport, runChecks, type Report } from '../doctor/runner.js';
import { loadKubeConfig } from '../k8s/kubeconfig.js';

const DOCTOR_EXIT = { ok: 0, failed: 1, badConfiguration: 2 } as const;

export interface DoctorOptions {
  output: 'text' | 'json';
  /** Retry failing checks this long (`--wait`). */
  waitMs: number;
}

export interface DoctorRun {
  report: Report;
  exitCode: number;
  text: string;
}

/**
 * `doctor`: the configuration `serve` would run with, checked against AWS and the cluster. Exit
 * 0 when nothing failed (warnings do not fail), 1 when a check failed, 2 when the configuration
 * itself is bad.
 */
export async function doctor(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  options: DoctorOptions,
  progress: (line: string) => void = () => {},
): Promise<DoctorRun> {
  const render = options.output === 'json' ? renderJson : renderText;
  const loaded = loadConfig(flags, env);
  if (!loaded.ok) {
    const report = badConfigurationReport(
      loaded.problems,
      'fix these settings (flags, or the environment variables the chart sets); `profile-irsa-webhook doctor --help` lists them all',
    );
    return { report, exitCode: DOCTOR_EXIT.badConfiguration, text: render(report) };
  }
  const config = loaded.config;
  let kubeConfig;
  try {
    kubeConfig = await loadKubeConfig();
  } catch (error) {
    const report = badConfigurationReport(
      [`the Kubernetes configuration cannot be loaded (${(error as Error).message})`],
      'in a pod the in-cluster configuration is used; elsewhere KUBECONFIG or ~/.kube/config must be a valid kubeconfig',
    );
    return { report, exitCode: DOCTOR_EXIT.badConfiguration, text: render(report) };
  }
  const aws = createAwsGatherers(config.region);
  const kubernetes = createKubernetesGatherers(kubeConfig);
  try {
    const report = await runChecks(
      CHECKS,
      () => gatherFacts({ config, options: SERVE_OPTIONS, flags, env, aws, kubernetes }),
      {
        waitMs: options.waitMs,
        onRetry: (failing, remaining) =>
          progress(
            `‼ ${failing.length} failing (${failing.join(', ')}); retrying, ${formatDuration(remaining)} left`,
          ),
      },
    );
    return {
      report,
      exitCode: report.success ? DOCTOR_EXIT.ok : DOCTOR_EXIT.failed,
      text: render(report),
    };
  } finally {
    aws.close();
  }
}

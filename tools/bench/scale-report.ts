import type { Machine } from './report.js';
import type { ScalePass, ScaleResult } from './scale-phase.js';

export interface ScaleSummary {
  benchmark: 'profile-irsa-webhook';
  mode: 'scale';
  machine: Machine;
  scale: ScaleResult;
  seconds: number;
}

const mb = (bytes: number | null) => (bytes === null ? 'n/a' : `${Math.round(bytes / 1e6)} MB`);

function passRow(label: string, pass: ScalePass): string[] {
  return [
    label,
    `${pass.seconds.toFixed(1)} s`,
    `${pass.iamCalls} for ${pass.profiles} Profiles (${pass.iamCallsPerProfile.toFixed(3)} per Profile)`,
    `${pass.inPlace} in place, ${pass.rolesBound} bound`,
    `${mb(pass.rssBytes)} (heap ${mb(pass.heapUsedBytes)} of ${mb(pass.heapTotalBytes)}, external ${mb(pass.externalBytes)})`,
  ];
}

export function renderScale(summary: ScaleSummary): string {
  const { scale, machine } = summary;
  const iam =
    scale.iam === 'moto'
      ? 'moto (IAM server emulator)'
      : 'the in-process IAM stub (moto is too slow at this count)';
  const lines = [
    `Scale: ${scale.profiles} Profiles through kube-apiserver; IAM: ${iam}`,
    `Machine: ${machine.cores} × ${machine.cpuModel}, Node.js ${machine.node}, load ${machine.loadAverage1m}, ${machine.date}`,
    '',
    `Profile creations (${scale.creations.without.profiles} without / ${scale.creations.with.profiles} with the webhook, 8 at a time):`,
    `  without the webhook  ${scale.creations.without.perSecond.toFixed(1)} /s`,
    `  with the webhook     ${scale.creations.with.perSecond.toFixed(1)} /s   ratio ${scale.creations.ratio.toFixed(2)}×`,
    `  IAM calls per new Profile  ${scale.creations.iamCallsPerProfile.toFixed(3)} ` +
      `(${Object.entries(scale.creations.iamCallsByOperation)
        .map(([op, n]) => `${op} ${n}`)
        .join(', ')})`,
    '',
    `Reconciling replica (serve, --iam-rate ${scale.iamRate}, --reconcile-interval ${scale.interval}); RSS at start ${mb(scale.replica.rssAtStartBytes)}:`,
    ...table(
      ['pass', 'time', 'IAM calls', 'roles', 'RSS after the pass'],
      scale.replica.passes.map((pass, i) =>
        passRow(
          i === 0
            ? `${pass.pass} (first)`
            : i === scale.replica.passes.length - 1
              ? `${pass.pass} (steady)`
              : String(pass.pass),
          pass,
        ),
      ),
    ).map((line) => `  ${line}`),
    '',
    `Roles under the path at the end: ${scale.roles}`,
  ];
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

import { setTimeout as sleep } from 'node:timers/promises';
import {
  fail,
  notChecked,
  SECTIONS,
  type Check,
  type CheckResult,
  type CheckStatus,
} from './check.js';
import { formatDuration } from '../core/duration.js';

export interface ReportCheck {
  id: string;
  status: CheckStatus;
  message: string;
  hint: string | null;
}

/** The one document `doctor -o json` prints; the text table is rendered from it too. */
export interface Report {
  success: boolean;
  sections: { name: string; checks: ReportCheck[] }[];
}

export interface RunOptions {
  /** Keep retrying failing checks this long (`--wait`); 0 runs every check once. */
  waitMs?: number;
  /** Pause between rounds. */
  intervalMs?: number;
  /** A check that takes longer fails (its I/O may still be running; the command exits after). */
  checkTimeoutMs?: number;
  /** Called before each retry round, with the ids still failing and the time left. */
  onRetry?(failing: string[], remainingMs: number): void;
}

const DEFAULT_INTERVAL_MS = 2000;
const DEFAULT_CHECK_TIMEOUT_MS = 30_000;

/**
 * Runs every check once with a fresh set of facts; then, while some fail and `waitMs` has not
 * passed, runs only the failing ones again, each round with fresh facts (so a repaired fault is
 * seen). Warnings are final: they do not fail the run and are not retried.
 */
export async function runChecks<Facts>(
  checks: readonly Check<Facts>[],
  newFacts: () => Facts,
  options: RunOptions = {},
): Promise<Report> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const timeout = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const results = new Map<string, CheckResult>();
  let pending = [...checks];
  for (;;) {
    const facts = newFacts();
    const round = await Promise.all(pending.map((check) => runOne(check, facts, timeout)));
    round.forEach((result, i) => results.set(pending[i]!.id, result));
    pending = pending.filter((check) => results.get(check.id)?.status === 'fail');
    const remaining = deadline - Date.now();
    if (pending.length === 0 || remaining <= 0) break;
    options.onRetry?.(
      pending.map((check) => check.id),
      remaining,
    );
    await sleep(Math.min(interval, remaining));
  }
  return report(checks, results);
}

async function runOne<Facts>(
  check: Check<Facts>,
  facts: Facts,
  timeoutMs: number,
): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(
          fail(
            `did not finish within ${formatDuration(timeoutMs)}`,
            'something it calls does not answer: run again with --wait, and check the network path to the API server and to AWS',
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      judge(check, facts).catch((error: unknown) =>
        fail(
          `could not run: ${(error as Error)?.message ?? String(error)}`,
          'this is a bug in doctor when it repeats; report it with the output of -o json',
        ),
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The check's result, or "not checked" with the first of its needs that does not hold. */
async function judge<Facts>(check: Check<Facts>, facts: Facts): Promise<CheckResult> {
  for (const need of check.needs ?? []) {
    if (!(await need.holds(facts))) return notChecked(need.why, need.fixFirst);
  }
  return check.run(facts);
}

function report<Facts>(
  checks: readonly Check<Facts>[],
  results: ReadonlyMap<string, CheckResult>,
): Report {
  const sections = Object.entries(SECTIONS)
    .map(([prefix, name]) => ({
      name,
      checks: checks
        .filter((check) => check.id.startsWith(`${prefix}.`))
        .map((check): ReportCheck => {
          const result = results.get(check.id)!;
          return {
            id: check.id,
            status: result.status,
            message: result.message,
            hint: result.status === 'ok' ? null : result.hint,
          };
        }),
    }))
    .filter((section) => section.checks.length > 0);
  const success = sections.every((s) => s.checks.every((c) => c.status !== 'fail'));
  return { success, sections };
}

/** The report of a configuration that cannot be used at all: only that check, failed. */
export function badConfigurationReport(problems: string[], hint: string): Report {
  const id = 'config.valid';
  const result = fail(`the configuration is not valid: ${problems.join('; ')}`, hint);
  return report([{ id, run: async () => result }], new Map([[id, result]]));
}

/** What one check found. Failures and warnings always carry a hint: what to run or change. */
export type CheckResult =
  { status: 'ok'; message: string } | { status: 'fail' | 'warn'; message: string; hint: string };

export type CheckStatus = CheckResult['status'];

/** The sections, in the order they are printed, by the prefix of their checks' ids. */
export const SECTIONS = {
  config: 'configuration',
  aws: 'aws',
  k8s: 'kubernetes',
  e2e: 'end to end',
} as const;

/**
 * What a check cannot judge without (the API server answers, the AWS credentials work). When it
 * does not hold, the runner reports the check "not checked" and names the check to fix first.
 */
export interface Need<Facts> {
  /** Why the check could not run, e.g. `the API server cannot be reached`. */
  why: string;
  /** The check (or checks) whose fix lets this one run. */
  fixFirst: string;
  holds(facts: Facts): Promise<boolean>;
}

/**
 * One check: a stable id (scripts match on it; its prefix names the section), what it needs, and
 * how to judge the facts of one round. `run` gathers what it needs through `facts` and judges it
 * with a pure function; it may throw, which the runner reports as a failure of that check.
 */
export interface Check<Facts> {
  id: `${keyof typeof SECTIONS}.${string}`;
  /** Tried in order: the first that does not hold is the reason given. */
  needs?: readonly Need<Facts>[];
  run(facts: Facts): Promise<CheckResult>;
}

export const ok = (message: string): CheckResult => ({ status: 'ok', message });
export const fail = (message: string, hint: string): CheckResult => ({
  status: 'fail',
  message,
  hint,
});
export const warn = (message: string, hint: string): CheckResult => ({
  status: 'warn',
  message,
  hint,
});

/** A check that could not run because another one failed first. */
export function notChecked(why: string, fixFirst: string): CheckResult {
  return fail(`not checked: ${why}`, `fix ${fixFirst} first`);
}

/** What one check found. Failures and warnings always carry a hint: what to run or change. */
export type CheckResult =
  { status: 'ok'; message: string } | { status: 'fail' | 'warn'; message: string; hint: string };

export type CheckStatus = CheckResult['status'];

/** The sections, in the order they are printed. */
export const SECTIONS = ['configuration', 'aws', 'kubernetes', 'end to end'] as const;
type Section = (typeof SECTIONS)[number];

/**
 * One check: a stable id (scripts match on it), its section, and how to run it against the
 * facts of one round. `run` gathers what it needs through `facts` and judges it with a pure
 * function; it may throw, which the runner reports as a failure of that check.
 */
export interface Check<Facts> {
  id: string;
  section: Section;
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

import type { CheckStatus } from './check.js';
import type { Report } from './runner.js';

const MARK: Record<CheckStatus, string> = { ok: '✔', fail: '×', warn: '‼' };

/** `-o json`: the report as one document. */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * The table, linkerd-check style: a heading per section, one line per check, and the hint
 * indented under every failure or warning (with the check's id, which hints and --wait use).
 */
export function renderText(report: Report): string {
  const lines: string[] = [];
  for (const section of report.sections) {
    lines.push(section.name, '-'.repeat(section.name.length));
    for (const check of section.checks) {
      // Hints and --wait name checks by id: failures and warnings show theirs.
      const id = check.status === 'ok' ? '' : ` [${check.id}]`;
      lines.push(`${MARK[check.status]} ${check.message}${id}`);
      if (check.hint !== null) {
        const [first, ...rest] = check.hint.split('\n');
        lines.push(`    hint: ${first}`, ...rest.map((line) => `          ${line}`));
      }
    }
    lines.push('');
  }
  const all = report.sections.flatMap((section) => section.checks);
  const count = (status: CheckStatus) => all.filter((c) => c.status === status).length;
  const summary = [
    count('fail') > 0 ? `${count('fail')} failed` : undefined,
    `${count('ok')} passed`,
    count('warn') > 0 ? `${count('warn')} warning${count('warn') === 1 ? '' : 's'}` : undefined,
  ].filter((part) => part !== undefined);
  lines.push(report.success ? `✔ no failures: ${summary.join(', ')}` : `× ${summary.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** What `/readyz` reports: every condition must hold for the pod to take admission traffic. */
export class Readiness {
  private readonly conditions = new Map<string, boolean>();

  set(condition: string, ok: boolean): void {
    this.conditions.set(condition, ok);
  }

  /** Conditions that do not hold; empty when ready. */
  failing(): string[] {
    return [...this.conditions].filter(([, ok]) => !ok).map(([name]) => name);
  }
}

/**
 * Waiting on the supervisor's state: until() resolves once a condition holds, and each notify() (called
 * whenever that state may have changed) makes the waiters look again. A fatal error ends every wait with it.
 */
export class Conditions {
  private waiters: (() => void)[] = [];
  private readonly failure: () => unknown;

  /** `failure`: the error that ends every wait once set (null until then). */
  constructor(failure: () => unknown) {
    this.failure = failure;
  }

  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async until(cond: () => boolean): Promise<void> {
    while (!cond()) {
      if (this.failure()) throw this.failure();
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failure()) throw this.failure();
  }
}

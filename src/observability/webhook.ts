/**
 * POSTs alert notifications to a webhook, one at a time and in order (a "resolved" never overtakes its
 * "firing"), with a short timeout and a few retries. Never throws: a broken webhook must not stop the daemon.
 * The URL may carry a token, so only its origin is ever logged.
 */
import type { Logger } from '../log.ts';

export type FetchFn = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ ok: boolean; status: number }>;

export interface WebhookOptions {
  url: string;
  log: Logger;
  fetch?: FetchFn;
  timeoutMs?: number;
  attempts?: number;
  retryDelayMs?: number;
  onFailure?: () => void;
}

export class WebhookNotifier {
  private readonly o: WebhookOptions;
  private readonly fetch: FetchFn;
  private readonly origin: string;
  private chain: Promise<void> = Promise.resolve();

  constructor(opts: WebhookOptions) {
    this.o = opts;
    this.fetch = opts.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.origin = new URL(opts.url).origin;
  }

  send(body: object): void {
    this.chain = this.chain.then(() => this.deliver(body));
  }

  idle(): Promise<void> {
    return this.chain;
  }

  private async deliver(body: object): Promise<void> {
    const attempts = this.o.attempts ?? 3;
    let last = '';
    for (let i = 1; i <= attempts; i++) {
      try {
        const res = await this.fetch(this.o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
        });
        if (res.ok) return;
        last = `HTTP ${res.status}`;
        // A 4xx other than 429 will not get better by retrying.
        if (res.status >= 400 && res.status < 500 && res.status !== 429) break;
      } catch (err) {
        last = (err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).message;
      }
      if (i < attempts) await new Promise((r) => setTimeout(r, (this.o.retryDelayMs ?? 500) * i));
    }
    this.o.onFailure?.();
    this.o.log.warn({ webhook: this.origin, err: last }, 'alert webhook POST failed');
  }
}

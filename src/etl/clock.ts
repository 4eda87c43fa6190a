/**
 * Time as the ETL sees it. The scheduler, sensor and retries only use this, so tests can drive a fake clock
 * through days of schedule in milliseconds.
 */
import { GamestreamError } from '../errors.ts';

export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with `etl_cancelled` when the signal aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export function cancelled(): GamestreamError {
  return new GamestreamError('etl_cancelled', 'the ETL scheduler is stopping');
}

/** Node timers cap at 2^31-1 ms; longer waits are chained. */
const MAX_TIMER = 2 ** 30;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(cancelled());
      const until = Date.now() + ms;
      let timer: NodeJS.Timeout;
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(cancelled());
      };
      const arm = (): void => {
        const left = until - Date.now();
        if (left <= 0) {
          signal?.removeEventListener('abort', onAbort);
          resolve();
          return;
        }
        timer = setTimeout(arm, Math.min(left, MAX_TIMER));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      arm();
    });
  },
};

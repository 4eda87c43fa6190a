/**
 * The crash-loop guard: a worker thread that dies is restarted, but more than GAMESTREAM_RESTART_LIMIT restarts
 * within GAMESTREAM_RESTART_WINDOW stop the daemon instead of spinning.
 */
import { GamestreamError } from '../errors.ts';

export class RestartGuard {
  private readonly limit: number;
  private readonly windowMs: number;
  private times: number[] = [];
  /** Restarts so far in this run. */
  count = 0;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** A worker died: null when it may be restarted (counted), else the crash_loop error to stop with. */
  crashed(worker: number, why: string, cause: Error | null, nowMs = Date.now()): GamestreamError | null {
    this.times = this.times.filter((t) => nowMs - t < this.windowMs);
    this.times.push(nowMs);
    if (this.times.length > this.limit) {
      const code = (cause as { code?: unknown } | null)?.code;
      return new GamestreamError('crash_loop', `worker ${worker} crashed ${this.times.length} times within ${this.windowMs / 1000}s (more than GAMESTREAM_RESTART_LIMIT=${this.limit} within GAMESTREAM_RESTART_WINDOW); stopping. Last error: ${typeof code === 'string' ? `${code}: ` : ''}${why}`, { cause: cause ?? undefined });
    }
    this.count++;
    return null;
  }
}

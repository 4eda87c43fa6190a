/** What /readyz says of the engine: the source is being read, and the warehouse takes commits. */
import type { HealthReport } from '../observability/server.ts';

export interface EngineState {
  /** The error that stops the daemon, if any. */
  fatal: unknown;
  stopping: boolean;
  /** Workers are started and the source is being read. */
  consuming: boolean;
  /** Why records wait for the schema registry, when they do. */
  registryProblem: string | null;
  /** The last warehouse commit failure not yet followed by a success. */
  lastCommitError: string | null;
}

export function engineHealth(s: EngineState): HealthReport {
  const fatal = s.fatal ? ((s.fatal as Error).message ?? String(s.fatal)) : null;
  const sourceDetail = fatal ?? (s.stopping ? 'stopping' : s.registryProblem ? `waiting for the schema registry: ${s.registryProblem}` : s.consuming ? 'consuming' : 'starting');
  return {
    source: { ok: s.consuming && !s.stopping && !s.registryProblem, detail: sourceDetail },
    warehouse: { ok: s.lastCommitError === null && !fatal, detail: s.lastCommitError ?? fatal ?? 'committing' },
  };
}

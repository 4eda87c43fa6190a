/** The rules every partition actor follows, from the configuration; the supervisor sends them to each worker once. */

export interface ActorRules {
  windowSizeMs: number;
  maxOutOfOrdernessMs: number;
  allowedLatenessMs: number;
  dedupeHorizonMs: number;
  futureToleranceMs: number;
  maxEventBytes: number;
}

export function actorRules(r: ActorRules): ActorRules {
  return {
    windowSizeMs: r.windowSizeMs, maxOutOfOrdernessMs: r.maxOutOfOrdernessMs, allowedLatenessMs: r.allowedLatenessMs,
    dedupeHorizonMs: r.dedupeHorizonMs, futureToleranceMs: r.futureToleranceMs, maxEventBytes: r.maxEventBytes,
  };
}

/**
 * `parameters.level_id` as the engine reads it, for windows and for every rebuild of them: a JSON number that is
 * a safe integer, else none. The ETL's SQL spells the same rule per warehouse (`levelId` in etl/dialect.ts).
 */
export function levelIdOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}

/** Fields every event must have (validation dead-letters a record without one as `missing_fields`). */
export const REQUIRED_FIELDS = ['id', 'user_id', 'timestamp', 'type'] as const;

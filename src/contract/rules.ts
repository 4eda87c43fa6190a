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

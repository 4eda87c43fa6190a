/** Every env var gamestream reads, for `gamestream env` and docs/OPERATIONS.md: the daemon's, the tracking server's, the ETL's, the metrics and alerts'. */
import { ENV_VARS } from '../config/schema.ts';
import { ETL_ENV_VARS } from '../etl/config.ts';
import { INGEST_ENV_VARS } from '../ingest/config.ts';
import { OBSERVABILITY_ENV_VARS } from '../observability/config.ts';

export interface DocumentedVar {
  name: string;
  default: string | (() => string);
  allowed: string;
  doc: string;
}

export function allEnvVars(): DocumentedVar[] {
  const out: DocumentedVar[] = [];
  for (const v of [...ENV_VARS, ...INGEST_ENV_VARS, ...ETL_ENV_VARS, ...OBSERVABILITY_ENV_VARS] as DocumentedVar[]) {
    if (!out.some((o) => o.name === v.name)) out.push(v);
  }
  return out;
}

/** Every env var gamestream reads, for `gamestream env` and docs/OPERATIONS.md: the daemon's, the tracking server's, the ETL's, the metrics and alerts'. */
import { ENV_VARS } from '../config/schema.ts';
import { ETL_ENV_VARS } from '../etl/config.ts';
import { INGEST_ENV_VARS } from '../ingest/config.ts';
import { OBSERVABILITY_ENV_VARS } from '../observability/config.ts';
import { FAULT_VARS } from '../config/faults.ts';

export interface DocumentedVar {
  name: string;
  default: string | (() => string);
  allowed: string;
  doc: string;
  /** How a value may be shown (secrets: not in full). */
  show?: (raw: string) => string;
}

export function allEnvVars(): DocumentedVar[] {
  const out: DocumentedVar[] = [];
  for (const v of [...ENV_VARS, ...INGEST_ENV_VARS, ...ETL_ENV_VARS, ...OBSERVABILITY_ENV_VARS] as DocumentedVar[]) {
    if (!out.some((o) => o.name === v.name)) out.push(v);
  }
  return out;
}

/** Read outside the schemas: the load generator's key, and the service scripts' download cache. */
const OTHER_VARS = ['GAMESTREAM_LOADGEN_API_KEY', 'GAMESTREAM_CACHE'];
/** Test switches and test harnesses' own settings: not checked, so a harness may add its own. */
const TEST_PREFIX = 'GAMESTREAM_TEST_';

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * One line per GAMESTREAM_* variable in `env` that no part of gamestream reads: a typo (GAMESTREAM_SORCE) would
 * otherwise leave the default in effect without a word. Names the closest known variable when one is near.
 */
export function unknownVarProblems(env: NodeJS.ProcessEnv): string[] {
  const known = [...allEnvVars().map((v) => v.name), ...FAULT_VARS.map((v) => v.name), ...OTHER_VARS];
  const knownSet = new Set(known);
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('GAMESTREAM_') || knownSet.has(name) || name.startsWith(TEST_PREFIX)) continue;
    let best = '';
    let bestD = Infinity;
    for (const k of known) {
      const dd = distance(name, k);
      if (dd < bestD) [best, bestD] = [k, dd];
    }
    const near = bestD <= Math.max(2, Math.floor(name.length / 6));
    out.push(`${name} is not a gamestream setting${near ? `: did you mean ${best}?` : ''} ('gamestream env' lists every setting; unset it or fix the name)`);
  }
  return out;
}

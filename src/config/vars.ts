/**
 * The shape every env-var schema shares (the daemon's, the tracking server's, the ETL's): one declaration per
 * variable, parsed once at start, every problem reported together with the variable, the value and what is
 * allowed.
 */
import { ValueError } from './parsers.ts';

export interface VarSpec<C, K extends keyof C> {
  name: string;
  key: K;
  default: string | (() => string);
  /** Must be given (non-empty); the default then only says what "unset" means. */
  required?: boolean;
  allowed: string;
  doc: string;
  parse: (raw: string) => C[K];
  /** How a value may appear in an error; secrets must not be echoed in full. */
  show?: (raw: string) => string;
}

/** Parses every variable; returns the values and the problems, one line each. */
export function parseVars<C>(
  specs: readonly VarSpec<C, keyof C>[],
  env: NodeJS.ProcessEnv,
): { values: Partial<Record<keyof C, unknown>>; problems: string[] } {
  const values: Partial<Record<keyof C, unknown>> = {};
  const problems: string[] = [];
  for (const spec of specs) {
    const given = env[spec.name];
    if (spec.required && (given === undefined || given.trim() === '')) {
      problems.push(`${spec.name} is not set: expected ${spec.allowed}`);
      continue;
    }
    const raw = given ?? (typeof spec.default === 'function' ? spec.default() : spec.default);
    try {
      values[spec.key] = spec.parse(raw);
    } catch (err) {
      const allowed = err instanceof ValueError ? err.message : spec.allowed;
      problems.push(`${spec.name}=${spec.show ? spec.show(raw) : JSON.stringify(raw)} is not valid: expected ${allowed}`);
    }
  }
  return { values, problems };
}

/**
 * The `--name value` flags of the CLI's subcommands (dlq, etl, loadgen, sql), read one way: an error names the
 * flag, the value and what is allowed, and exits 2 (config_invalid) like a bad setting.
 */
import { GamestreamError } from '../errors.ts';
import { isDay } from '../etl/warehouse.ts';

/** The value after `--name`; undefined when the flag is absent. A flag at the end, or followed by another flag, has no value: an error. */
export function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i === -1) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new GamestreamError('config_invalid', `--${name} needs a value`);
  return v;
}

/** A UTC day, YYYY-MM-DD. */
export function dayFlag(args: string[], name: string): string | undefined {
  const v = flag(args, name);
  if (v !== undefined && !isDay(v)) throw new GamestreamError('config_invalid', `--${name}=${JSON.stringify(v)} is not valid: expected a date YYYY-MM-DD`);
  return v;
}

/** A whole number, 0 or more. */
export function wholeFlag(args: string[], name: string): number | undefined {
  const v = flag(args, name);
  if (v !== undefined && !/^\d+$/.test(v)) throw new GamestreamError('config_invalid', `--${name}=${JSON.stringify(v)} is not valid: expected a whole number`);
  return v === undefined ? undefined : Number(v);
}

/** A number above 0, or `def` when the flag is absent. */
export function positiveFlag(args: string[], name: string, def: number): number {
  const v = flag(args, name);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new GamestreamError('config_invalid', `--${name}=${JSON.stringify(v)} is not valid: expected a positive number`);
  return n;
}

/**
 * A subcommand's arguments, checked against the flags it takes, in the `--name value` form (`--name=value` is
 * read as that too). A flag it does not take, a flag given twice, or a word that is no flag's value is an error
 * naming it: a mistyped filter (`--cod`, `--code=…` read as nothing) must not widen a replay to every letter.
 */
export function takeFlags(args: string[], command: string, valued: readonly string[], switches: readonly string[] = []): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const takes = (): string => {
    const all = [...valued.map((v) => `--${v} …`), ...switches.map((s) => `--${s}`)];
    return all.length > 0 ? `it takes ${all.join(', ')}` : 'it takes no flags';
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--([^=]+)=(.*)$/s.exec(a);
    const name = m ? m[1]! : a.startsWith('--') ? a.slice(2) : null;
    if (name === null) throw new GamestreamError('config_invalid', `gamestream ${command}: unexpected argument ${JSON.stringify(a)}; ${takes()}`);
    if (!valued.includes(name) && !switches.includes(name)) throw new GamestreamError('config_invalid', `gamestream ${command}: unknown flag --${name}; ${takes()}`);
    if (seen.has(name)) throw new GamestreamError('config_invalid', `gamestream ${command}: --${name} is given twice`);
    seen.add(name);
    if (switches.includes(name)) {
      if (m) throw new GamestreamError('config_invalid', `gamestream ${command}: --${name} takes no value`);
      out.push(a);
      continue;
    }
    const v = m ? m[2]! : args[i + 1];
    // A flag without its value is left for the command's own reading to say so (with what it expects there).
    if (v === undefined || (!m && v.startsWith('--'))) {
      out.push(`--${name}`);
      continue;
    }
    out.push(`--${name}`, v);
    if (!m) i++;
  }
  return out;
}

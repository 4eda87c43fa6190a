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

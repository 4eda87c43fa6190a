import { describe, expect, it } from 'vitest';
import { flag, takeFlags } from '../../src/cli/flags.ts';

const take = (args: string[]) => takeFlags(args, 'dlq replay', ['code', 'since'], ['dry-run']);
const refusal = (args: string[]): string => {
  try {
    take(args);
    return '';
  } catch (err) {
    expect((err as { code?: string }).code).toBe('config_invalid');
    return (err as Error).message;
  }
};

describe('takeFlags', () => {
  it('reads --name value and --name=value alike, and switches', () => {
    expect(take(['--code', 'a', '--since=2026-12-01', '--dry-run'])).toEqual(['--code', 'a', '--since', '2026-12-01', '--dry-run']);
    expect(take(['--code=x=y'])).toEqual(['--code', 'x=y']);
    expect(take([])).toEqual([]);
  });

  it('refuses what the command does not take, naming it and what it takes', () => {
    expect(refusal(['--cod', 'a'])).toBe('gamestream dlq replay: unknown flag --cod; it takes --code …, --since …, --dry-run');
    expect(refusal(['a'])).toContain('unexpected argument "a"');
    expect(refusal(['--code', 'a', '--code=b'])).toContain('--code is given twice');
    expect(refusal(['--dry-run=yes'])).toContain('--dry-run takes no value');
    // A flag without its value is left to the command's reading, which says what belongs there.
    expect(() => flag(take(['--code']), 'code')).toThrow('--code needs a value');
    expect(() => flag(take(['--code', '--dry-run']), 'code')).toThrow('--code needs a value');
  });
});

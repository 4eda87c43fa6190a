/**
 * The error codes: one runtime list, from which the type comes (so a code raised but not listed does not
 * compile), each code once, each one raised or stored somewhere, and an error keeps its code across threads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, fromWire, GamestreamError, toWire } from '../src/errors.ts';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('error codes', () => {
  it('are listed once each', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('are each raised or stored somewhere outside the list', () => {
    const text = sources(SRC).filter((f) => !f.endsWith('errors.ts')).map((f) => readFileSync(f, 'utf8')).join('\n');
    const unused = ERROR_CODES.filter((c) => !text.includes(`'${c}'`) && !new RegExp(`\\b${c}:`).test(text));
    expect(unused).toEqual([]);
  });

  it('survive a trip between threads, with their retry hint and cause; a code not on the list arrives as internal', () => {
    const err = new GamestreamError('warehouse_write_failed', 'commit failed', { retryable: true, cause: new GamestreamError('kafka_timeout', 'slow') });
    const back = fromWire(structuredClone(toWire(err)));
    expect([back.code, back.retryable, back.message]).toEqual(['warehouse_write_failed', true, 'commit failed']);
    expect((back.cause as GamestreamError).code).toBe('kafka_timeout');
    expect(fromWire({ name: 'Error', code: 'ECONNRESET', message: 'reset', retryable: false }).code).toBe('internal');
  });
});

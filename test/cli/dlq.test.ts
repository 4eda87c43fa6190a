/**
 * `gamestream dlq` reads the dead letters back: counts, the letters with their reason, their raw records. On a
 * DuckDB warehouse the real daemon wrote, and on a BigQuery dataset (the emulator).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { dlqCommand } from '../../src/cli/dlq.ts';
import { describeRun, firstChunkThenClose, runEngine } from '../support/truth/engine.ts';
import { openBigQueryTestWarehouse } from '../etl/support/bigquery-world.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-dlq-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function dlq(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await dlqCommand(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env });
  return { code, out, err };
}

describe('gamestream dlq on DuckDB', () => {
  it('counts the dead letters, shows them with their reason, and exports their raw records as they came', async () => {
    const now = new Date().toISOString();
    const good = (i: number) => JSON.stringify({ id: `e${i}`, user_id: `u${i % 3}`, timestamp: now, type: 1001 });
    const bad = ['{"id":"x1","user_id":"u1"', '{"id":"x2","user_id":"u2","timestamp":"yesterday","type":1001}', '{"id":"x3","timestamp":"2026-01-01T00:00:00Z","type":1}'];
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, [good(1), bad[0], good(2), bad[1], bad[2], good(3)].join('\n') + '\n');
    const wh = `duckdb:${join(dir, 'w.duckdb')}`;
    const r = await runEngine({ GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: wh, GAMESTREAM_WORKERS: '1', GAMESTREAM_ETL: 'off', GAMESTREAM_PARTITIONS: '4' }, 60_000);
    expect(r.code, describeRun(r)).toBe(0);
    const env = { GAMESTREAM_WAREHOUSE: wh };

    const stats = await dlq(['stats'], env);
    expect(stats.code, stats.err).toBe(0);
    expect(stats.out).toMatch(/parse_error +decode +1 +0 +file:/);
    expect(stats.out).toMatch(/invalid_timestamp +validate +1 +0 /);
    expect(stats.out).toMatch(/missing_fields +validate +1 +0 /);
    expect(stats.out).toContain('3 dead letter(s)');

    const shown = await dlq(['show', '--code', 'invalid_timestamp'], env);
    expect(shown.out).toContain('invalid_timestamp (validate)');
    expect(shown.out).toContain('why: timestamp "yesterday"');
    expect(shown.out).toContain(bad[1]);
    expect(shown.out).toContain('1 dead letter(s) shown');

    const exported = await dlq(['export'], env);
    expect(exported.out.trim().split('\n').sort()).toEqual([...bad].sort());

    expect((await dlq(['show', '--since', 'soon'], env)).code).toBe(2);
    // `--name=value` is read as `--name value`; a flag the command does not take is refused, never ignored
    // (ignored, a mistyped filter would widen a replay to every letter).
    expect((await dlq(['show', '--code=invalid_timestamp'], env)).out).toContain('1 dead letter(s) shown');
    for (const args of [['replay', '--cod', 'invalid_timestamp'], ['replay', '--dryrun'], ['replay', 'invalid_timestamp'], ['stats', '--limit', '3'], ['show', '--code', 'a', '--code', 'b']]) {
      const refused = await dlq(args, env);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.err, args.join(' ')).toMatch(/unknown flag|unexpected argument|given twice|takes no --limit/);
    }
    // A replay's --limit is refused with its reason, in either form.
    for (const limit of [['--limit', '5'], ['--limit=5']]) expect((await dlq(['replay', ...limit], env)).err).toContain('dlq replay takes no --limit');

    // `dlq export | head`: a reader that stops early ends the command quietly, exit 0 (it was an EPIPE stack).
    // Enough letters that the export outlasts the pipe's buffer.
    const many = join(dir, 'many.ndjson');
    writeFileSync(many, Array.from({ length: 3000 }, (_, i) => `{"id":"m${i}","user_id":"u1","timestamp":"soon","type":1001,"pad":"${'p'.repeat(200)}"}`).join('\n') + '\n');
    const loaded = await runEngine({ GAMESTREAM_SOURCE: `file:${many}`, GAMESTREAM_WAREHOUSE: wh, GAMESTREAM_WORKERS: '1', GAMESTREAM_ETL: 'off', GAMESTREAM_PARTITIONS: '4' }, 60_000);
    expect(loaded.code, describeRun(loaded)).toBe(0);
    const { first, stderr, code } = await firstChunkThenClose(['dlq', 'export'], { PATH: process.env.PATH, ...env });
    expect(first).toContain('"id":"');
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
    expect((await dlq(["resend"], env)).err).toContain("unknown dlq command \"resend\"");
  });
  it('shows client text with its control characters escaped, and leaves binary letters out of the text export, saying so', async () => {
    const now = new Date().toISOString();
    // A record that is valid UTF-8 but carries terminal escapes (retitle, clear screen) and a carriage return.
    const hostile = `{"id":"t1","user_id":"u1","timestamp":"later\u001b]0;pwned\u0007\u001b[2J\r","type":1001}`;
    const binary = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0xc8, 0x01, 0x7d]);
    const input = join(dir, 'hostile.ndjson');
    writeFileSync(input, Buffer.concat([Buffer.from(`${JSON.stringify({ id: 'ok', user_id: 'u', timestamp: now, type: 1001 })}\n${hostile}\n`), binary, Buffer.from('\n')]));
    const wh = `duckdb:${join(dir, 'w-hostile.duckdb')}`;
    const r = await runEngine({ GAMESTREAM_SOURCE: `file:${input}`, GAMESTREAM_WAREHOUSE: wh, GAMESTREAM_WORKERS: '1', GAMESTREAM_ETL: 'off', GAMESTREAM_PARTITIONS: '2' }, 60_000);
    expect(r.code, describeRun(r)).toBe(0);
    const env = { GAMESTREAM_WAREHOUSE: wh };
    const shown = await dlq(['show'], env);
    expect(shown.out).toContain('2 dead letter(s) shown');
    expect(shown.out).not.toMatch(/[\u001b\u0007\r]/);
    expect(shown.out).toContain('later\\u001b]0;pwned\\u0007\\u001b[2J\\u000d');
    const exported = await dlq(['export'], env);
    // The text letter exactly as it came (a JSON string, as it holds a carriage return); the binary one left out,
    // not turned into U+FFFD.
    expect(exported.out).toBe(`${JSON.stringify(hostile)}\n`);
    expect(exported.err).toContain('1 binary letter(s) left out');
  });

});

describe('gamestream dlq on BigQuery', () => {
  const ctx = inject('bigquery');

  it('counts and exports the dead letters of a dataset', async () => {
    const b = await openBigQueryTestWarehouse(ctx, 'dlq_cli');
    try {
      const now = Date.now();
      await b.insertDeadLetters([now - 60_000, now - 30_000]);
      const env = {
        GAMESTREAM_WAREHOUSE: `bigquery:${ctx.project}.${b.id}`, GAMESTREAM_BIGQUERY_ENDPOINT: ctx.restEndpoint,
        GAMESTREAM_BIGQUERY_WRITE_ENDPOINT: ctx.writeEndpoint,
      };
      const stats = await dlq(['stats'], env);
      expect(stats.code, stats.err).toBe(0);
      expect(stats.out).toMatch(/parse_error +decode +2 /);
      const exported = await dlq(['export', '--code', 'parse_error'], env);
      expect(exported.out).toBe('{\n{\n');
      expect((await dlq(['show', '--code', 'none_such'], env)).out).toContain('0 dead letter(s) shown');
    } finally {
      await b.close();
    }
  });
});

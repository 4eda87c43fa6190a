/**
 * `npm run bench` as a user runs it, on a small file: it must finish and print each run's events/s with its CPU
 * per event and peak RSS, and the plain loop it is compared with. It times nothing here; only that it runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { naiveLoopBench } from '../../bench/naive.ts';
import { makeEventsFile } from '../../bench/make-events.ts';

const work = mkdtempSync(join(tmpdir(), 'gamestream-bench-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run bench', () => {
  it('the plain loop stores every valid event of the file into the current events table', async () => {
    const file = join(work, 'events.ndjson');
    await makeEventsFile(file, 2000, 7);
    const r = await naiveLoopBench(file);
    expect(r.events).toBe(2000);
    expect(r.stored + r.rejected).toBe(2000);
    // The generator makes 1% defective records.
    expect(r.stored).toBeGreaterThan(1900);
    expect(r.cpuMicrosPerEvent).toBeGreaterThan(0);
  });

  it('the pipeline part prints events/s, CPU per event and peak RSS for each run and the ratio to the plain loop', () => {
    const results = join(work, 'results');
    const run = spawnSync(process.execPath, ['bench/run.ts'], {
      env: { ...process.env, BENCH_ONLY: 'pipeline', BENCH_EVENTS: '3000', BENCH_RESULTS: results },
      encoding: 'utf8',
    });
    expect(run.stderr + run.stdout).not.toMatch(/Error/);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/whole pipeline, 1 worker thread\(s\): [\d,]+ events\/s; CPU [\d.]+ s = [\d.]+ µs\/event; peak RSS \d+ MB/);
    expect(run.stdout).toMatch(/naive loop \(one thread: parse → validate → DuckDB appender\): [\d,]+ events\/s; CPU [\d.]+ s = [\d.]+ µs\/event/);
    expect(run.stdout).toMatch(/the pipeline's best is [\d.]+× the naive loop's events\/s/);
    const [file] = readdirSync(results);
    const saved = JSON.parse(readFileSync(join(results, file), 'utf8')) as { pipeline: { events: number }[]; naive: { stored: number } };
    expect(saved.pipeline.every((p) => p.events === 3000)).toBe(true);
    expect(saved.naive.stored).toBeGreaterThan(2900);
  });
});

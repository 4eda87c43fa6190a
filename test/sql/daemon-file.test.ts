// The file by which `gamestream sql` finds the daemon that holds a DuckDB warehouse.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { daemonFilePath, readDaemonFile, removeDaemonFile, writeDaemonFile } from '../../src/sql/daemon-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-daemon-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the daemon file', () => {
  it('is written whole beside the warehouse, read back, and removed only by the daemon that wrote it', () => {
    const path = daemonFilePath(join(dir, 'w.duckdb'));
    expect(path).toBe(join(dir, 'w.duckdb.daemon.json'));
    expect(readDaemonFile(path)).toBeNull();
    const info = { pid: 4242, warehouse: `duckdb:${join(dir, 'w.duckdb')}`, url: 'http://127.0.0.1:9464', startedAt: 'now', version: '1' };
    writeDaemonFile(path, info);
    expect(readDaemonFile(path)).toEqual(info);
    expect(readdirSync(dir)).toEqual(['w.duckdb.daemon.json']);
    removeDaemonFile(path, 4343);
    expect(readDaemonFile(path)).toEqual(info);
    removeDaemonFile(path, 4242);
    expect(readDaemonFile(path)).toBeNull();
  });

  it('reads as absent when it is not one', () => {
    const path = join(dir, 'bad.daemon.json');
    for (const text of ['', '{', '{"pid":"1","warehouse":"x","url":null}', '{"pid":1,"warehouse":"x","url":3}']) {
      writeFileSync(path, text);
      expect(readDaemonFile(path), text).toBeNull();
    }
    writeFileSync(path, '{"pid":1,"warehouse":"duckdb:/w","url":null}');
    expect(readDaemonFile(path)).toEqual({ pid: 1, warehouse: 'duckdb:/w', url: null, startedAt: '', version: '' });
  });
});

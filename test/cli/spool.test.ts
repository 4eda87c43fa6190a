import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSpoolDir, removeSpoolDir, spoolNeedBytes } from '../../src/cli/spool.ts';

const root = mkdtempSync(join(tmpdir(), 'gs-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MiB = 1 << 20;
let n = 0;
/** A stand-in for /dev/shm and a fallback folder, fresh for each case. */
function folders(): { shm: string; fallback: string } {
  const base = join(root, `case-${++n}`);
  mkdirSync(join(base, 'shm'), { recursive: true });
  return { shm: join(base, 'shm'), fallback: join(base, 'beside-warehouse') };
}

describe('spoolNeedBytes', () => {
  it('is two flushes a worker at about 600 bytes a row', () => {
    expect(spoolNeedBytes(1, 200_000)).toBe(240_000_000);
    expect(spoolNeedBytes(3, 1000)).toBe(3_600_000);
  });
});

describe('createSpoolDir', () => {
  const need = spoolNeedBytes(1, 200_000);

  it('puts the spool in /dev/shm when it has room for the row files', () => {
    const { shm, fallback } = folders();
    const s = createSpoolDir(null, fallback, need, () => need, shm);
    expect(s.dir).toBe(join(shm, `gamestream-spool-${process.pid}`));
    expect(existsSync(s.dir)).toBe(true);
    expect(s.warning).toBeNull();
    expect(existsSync(fallback)).toBe(false);
    removeSpoolDir(s.dir);
  });

  it('puts it beside the warehouse, and says why, when /dev/shm has too little room (Docker gives 64 MB)', () => {
    const { shm, fallback } = folders();
    const s = createSpoolDir(null, fallback, need, () => 64 * MiB, shm);
    expect(s.dir).toBe(join(fallback, `gamestream-spool-${process.pid}`));
    expect(existsSync(s.dir)).toBe(true);
    expect(readdirSync(shm)).toEqual([]);
    expect(s.warning).toBe(
      `the spool is in ${fallback}, not ${shm}: ${shm} has 64 MiB free, less than the 229 MiB its row files may take (two flushes of `
      + `GAMESTREAM_FLUSH_ROWS rows a worker, about 600 bytes a row). Give ${shm} more room (docker run --shm-size 512m) or set GAMESTREAM_SPOOL_DIR`,
    );
  });

  it('puts it beside the warehouse without a word when there is no /dev/shm', () => {
    const { shm, fallback } = folders();
    rmSync(shm, { recursive: true });
    const s = createSpoolDir(null, fallback, need, () => 0, shm);
    expect(s.dir).toBe(join(fallback, `gamestream-spool-${process.pid}`));
    expect(s.warning).toBeNull();
  });

  it('uses a configured folder as given, with a warning naming the settings when it is small', () => {
    const { fallback } = folders();
    const configured = join(root, `configured-${n}`);
    const small = createSpoolDir(configured, fallback, need, () => 100 * MiB);
    expect(small.dir).toBe(join(configured, `gamestream-spool-${process.pid}`));
    expect(small.warning).toBe(
      `GAMESTREAM_SPOOL_DIR: ${configured} has 100 MiB free, less than the 229 MiB its row files may take (two flushes of GAMESTREAM_FLUSH_ROWS `
      + 'rows a worker, about 600 bytes a row); a full spool stops the daemon: give it more room or lower GAMESTREAM_FLUSH_ROWS',
    );
    expect(createSpoolDir(configured, fallback, need, () => need).warning).toBeNull();
    expect(existsSync(fallback)).toBe(false);
  });

  it('reads the free room of the real file system', () => {
    const { fallback } = folders();
    const configured = join(root, `real-${n}`);
    expect(createSpoolDir(configured, fallback, 1).warning).toBeNull();
    expect(createSpoolDir(configured, fallback, Number.MAX_SAFE_INTEGER).warning).toMatch(/^GAMESTREAM_SPOOL_DIR: .* has \d+ MiB free/);
  });

  it('removes the folders of processes that are gone, not its own', () => {
    const { shm, fallback } = folders();
    // Pid 2^22 + 1 is above Linux's largest pid, so no process has it.
    const dead = join(shm, `gamestream-spool-${2 ** 22 + 1}`);
    mkdirSync(dead);
    const s = createSpoolDir(null, fallback, 0, () => 0, shm);
    expect(existsSync(dead)).toBe(false);
    expect(readdirSync(shm)).toEqual([`gamestream-spool-${process.pid}`]);
    removeSpoolDir(s.dir);
  });
});

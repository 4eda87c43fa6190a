import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSpoolDir, removeSpoolDir, spoolNeedBytes } from '../../src/cli/spool.ts';

const root = mkdtempSync(join(tmpdir(), 'gs-spool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const MiB = 1 << 20;
// Pid 2^22 + 1 is above Linux's largest pid, so no process has it.
const GONE_PID = 2 ** 22 + 1;
const DEFAULTS = { maxUncommittedBytes: 256 * MiB };
const need = spoolNeedBytes(DEFAULTS);

let n = 0;
/** A stand-in for /dev/shm and a fallback folder, fresh for each case. */
function folders(): { shm: string; fallback: string; configured: string } {
  const base = join(root, `case-${++n}`);
  mkdirSync(join(base, 'shm'), { recursive: true });
  return { shm: join(base, 'shm'), fallback: join(base, 'beside-warehouse'), configured: join(base, 'configured') };
}

describe('spoolNeedBytes', () => {
  it('is the rows of every record not yet committed, about 1.5 bytes a byte of record', () => {
    expect(spoolNeedBytes(DEFAULTS)).toBe(384 * MiB);
    expect(spoolNeedBytes({ maxUncommittedBytes: 4 * MiB })).toBe(6 * MiB);
  });
});

describe('createSpoolDir', () => {
  it('puts the spool in /dev/shm when it has room for the row files', () => {
    const { shm, fallback } = folders();
    const s = createSpoolDir(null, fallback, DEFAULTS, () => need, shm);
    expect(s.dir).toBe(join(shm, `gamestream-spool-${process.pid}`));
    expect(existsSync(s.dir)).toBe(true);
    expect(s.warning).toBeNull();
    expect(existsSync(fallback)).toBe(false);
    removeSpoolDir(s.dir);
  });

  it('puts it beside the warehouse, and says why with the values, when /dev/shm has too little room (Docker gives 64 MB)', () => {
    const { shm, fallback } = folders();
    const s = createSpoolDir(null, fallback, DEFAULTS, () => 64 * MiB, shm);
    expect(s.dir).toBe(join(fallback, `gamestream-spool-${process.pid}`));
    expect(existsSync(s.dir)).toBe(true);
    expect(readdirSync(shm)).toEqual([]);
    expect(s.warning).toBe(
      `the spool is in ${fallback}, not ${shm}: ${shm} has 64 MiB free, less than the 384 MiB its row files may take (the rows of up to `
      + 'GAMESTREAM_MAX_UNCOMMITTED_BYTES=256 MiB of records not yet committed, about 1.5 bytes of row a byte of record). To keep it in RAM, give '
      + `${shm} that much (docker run --shm-size 384m) or lower GAMESTREAM_MAX_UNCOMMITTED_BYTES; GAMESTREAM_SPOOL_DIR chooses the folder`,
    );
    // A larger bound needs more room, and the suggested size follows.
    const big = createSpoolDir(null, fallback, { maxUncommittedBytes: 1000 * MiB }, () => 512 * MiB, shm).warning;
    expect(big).toContain('less than the 1500 MiB its row files may take (the rows of up to GAMESTREAM_MAX_UNCOMMITTED_BYTES=1000 MiB');
    expect(big).toContain('--shm-size 1536m');
  });

  it('keeps it in /dev/shm when its free room cannot be read, as before the check', () => {
    const { shm, fallback } = folders();
    const s = createSpoolDir(null, fallback, DEFAULTS, () => null, shm);
    expect(s.dir).toBe(join(shm, `gamestream-spool-${process.pid}`));
    expect(s.warning).toBeNull();
  });

  it('puts it beside the warehouse without a word when there is no /dev/shm', () => {
    const { shm, fallback } = folders();
    rmSync(shm, { recursive: true });
    const s = createSpoolDir(null, fallback, DEFAULTS, () => 0, shm);
    expect(s.dir).toBe(join(fallback, `gamestream-spool-${process.pid}`));
    expect(s.warning).toBeNull();
  });

  it('uses a configured folder as given, with a warning naming the values and the settings when it is small', () => {
    const { fallback, configured } = folders();
    const small = createSpoolDir(configured, fallback, DEFAULTS, () => 100 * MiB);
    expect(small.dir).toBe(join(configured, `gamestream-spool-${process.pid}`));
    expect(small.warning).toBe(
      `GAMESTREAM_SPOOL_DIR: ${configured} has 100 MiB free, less than the 384 MiB its row files may take (the rows of up to GAMESTREAM_MAX_UNCOMMITTED_BYTES=256 MiB `
      + 'of records not yet committed, about 1.5 bytes of row a byte of record). A spool that fills up makes its worker fail with spool_full and start again, '
      + 'and the daemon stops with crash_loop when that repeats: give the folder more room, or lower GAMESTREAM_MAX_UNCOMMITTED_BYTES (reading then waits for commits sooner)',
    );
    expect(createSpoolDir(configured, fallback, DEFAULTS, () => need).warning).toBeNull();
    expect(existsSync(fallback)).toBe(false);
  });

  it('reads the free room of the real file system', () => {
    const { fallback, configured } = folders();
    expect(createSpoolDir(configured, fallback, { maxUncommittedBytes: 1 }).warning).toBeNull();
    expect(createSpoolDir(configured, fallback, { maxUncommittedBytes: 2 ** 60 }).warning).toMatch(/^GAMESTREAM_SPOOL_DIR: .* has \d+ MiB free/);
  });

  it('removes the folders of processes that are gone before it measures the room, and empties its own', () => {
    const { shm, fallback } = folders();
    const dead = join(shm, `gamestream-spool-${GONE_PID}`);
    mkdirSync(dead);
    writeFileSync(join(dead, 'w0-1-2-3.events.ndjson'), 'x');
    // In a container the daemon is always pid 1: a folder of its pid is an earlier process's.
    const own = join(shm, `gamestream-spool-${process.pid}`);
    mkdirSync(own);
    writeFileSync(join(own, 'w0-1-2-3.events.ndjson'), 'x');
    const s = createSpoolDir(null, fallback, DEFAULTS, () => {
      expect(existsSync(dead)).toBe(false);
      return need;
    }, shm);
    expect(readdirSync(shm)).toEqual([`gamestream-spool-${process.pid}`]);
    expect(readdirSync(s.dir)).toEqual([]);
  });

  it('cleans the fallback folder too', () => {
    const { shm, fallback } = folders();
    const dead = join(fallback, `gamestream-spool-${GONE_PID}`);
    mkdirSync(dead, { recursive: true });
    createSpoolDir(null, fallback, DEFAULTS, () => 0, shm);
    expect(readdirSync(fallback)).toEqual([`gamestream-spool-${process.pid}`]);
  });
});

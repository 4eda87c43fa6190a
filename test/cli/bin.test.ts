/**
 * bin/gamestream.js under an older Node (the system's, as `npx gamestream` may start it) runs the CLI in a child
 * on the pinned Node: a SIGTERM sent to it must reach the daemon once, which drains and exits 0, not orphan it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/truth/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'gs-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A Node older than 26 on this machine (the system's), which makes bin/gamestream.js re-exec the pinned one. */
function olderNode(): string {
  for (const p of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(p)) continue;
    const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
    if (Number(v.split('.')[0]) < 26) return p;
  }
  throw new Error('no Node older than 26 on this machine: the re-exec path of bin/gamestream.js cannot be tested here');
}

describe('bin/gamestream.js on an older Node', () => {
  it('passes a SIGTERM to the daemon, which drains and exits 0, and exits with it', async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_')) env[k] = v;
    Object.assign(env, { GAMESTREAM_METRICS_PORT: '0', GAMESTREAM_ETL: 'off', GAMESTREAM_WAREHOUSE: `duckdb:${join(dir, 'w.duckdb')}`, GAMESTREAM_PROGRESS_INTERVAL: '200ms', GAMESTREAM_GENERATOR_RATE: '2000' });
    const child = spawn(olderNode(), [join(REPO_ROOT, 'bin/gamestream.js'), 'run'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!sent && /written [1-9]/.test(out)) {
        sent = true;
        child.kill('SIGTERM'); // this process only, not its group
      }
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect(sent, out).toBe(true);
    expect([code, signal], out).toEqual([0, null]);
    expect(out).toContain('SIGTERM: draining');
    expect(out).toMatch(/stopped: [\d,]+ records/);
    expect(out).not.toContain('again: exiting without draining');
  });
});

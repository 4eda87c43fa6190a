// The packaging tests' command runner: it must report a command's result, never crash the test run.
import { describe, expect, it } from 'vitest';
import { run } from './deploy-files.ts';

describe('run()', () => {
  it('reports a command that exits without reading its input, instead of an unhandled EPIPE', async () => {
    // `true` exits at once; writing 4 MiB to its stdin then fails with EPIPE (podman did the same in CI).
    for (let i = 0; i < 5; i++) {
      const r = await run('true', [], { input: 'x'.repeat(4 << 20) });
      expect(r.code).toBe(0);
    }
  });
});

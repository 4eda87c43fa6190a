// Hostile JSON (deep nesting) is refused by a bounded scan before anything parses it, so the event loop stays
// free: /healthz keeps answering within 100 ms while such bodies arrive. On a busy machine the process itself may
// wait for a core longer than that, which no code can help, so a probe counts only the time this thread actually
// computed while it was out (a blocking parse computes for seconds). The hostile bodies are built and sent from a
// worker thread, and the prober's HTTP client is loaded before the first timed probe: what this thread computes is
// then the server's work, not the test's own client copying 4 MB bodies or compiling fetch.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { splitEvents } from '../../src/ingest/body.ts';
import { API_KEY } from './support.ts';
import { startFake } from './fake.ts';

const limits = { maxBodyBytes: 5 << 20, maxBatchEvents: 1000, maxEventBytes: 1_000_000, maxJsonDepth: 64 };

describe('hostile bodies', () => {
  it('refuses nesting deeper than the limit with 400 json_too_deep, and accepts it up to the limit', () => {
    const nested = (d: number) => `${'['.repeat(d)}${']'.repeat(d)}`;
    const code = (body: string, type?: string) => {
      try {
        splitEvents(Buffer.from(body), type, limits);
        return 'ok';
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    expect(code(`[${nested(63)}]`)).toBe('ok');
    expect(code(`[${nested(64)}]`)).toBe('json_too_deep');
    expect(code(`[{"a":"${'['.repeat(100)}","user_id":"u"}]`)).toBe('ok'); // brackets inside a string do not count
    expect(code(`[{"a":"\\"${'['.repeat(100)}"}]`)).toBe('ok');
    expect(code(`{"a":${nested(100)}}`, 'application/json')).toBe('json_too_deep');
    // NDJSON lines are forwarded as they are; a deep line is not parsed to tell whether it is an object.
    expect(code(`{"a":${nested(200)}}`, 'application/x-ndjson')).toBe('not_ndjson');
    expect(code(`{"a":${nested(200)}}\n{"user_id":"u"}`, 'application/x-ndjson')).toBe('ok');
  });

  it('keeps /healthz answering within 100 ms while deeply nested 4 MB bodies arrive', async () => {
    const server = await startFake({ idleTimeoutMs: 60_000, ackTimeoutMs: 10_000 });
    try {
      // Warm: the first fetch in a thread loads and compiles its HTTP client (40+ ms of this thread's CPU).
      const warm = await fetch(`${server.url}/healthz`);
      await warm.arrayBuffer();
      expect(warm.status).toBe(200);
      const sender = new Worker(HOSTILE_SENDER, { eval: true, workerData: { url: server.url, apiKey: API_KEY, rounds: 4 } });
      const sent = new Promise<Array<{ status: number; error: string }>>((resolve, reject) => {
        sender.once('message', resolve);
        sender.once('error', reject);
        sender.once('exit', (code) => reject(new Error(`the sender thread exited with ${code} before it answered`)));
      });
      let stop = false;
      let worst = 0;
      let probes = 0;
      const prober = (async () => {
        while (!stop) {
          const t0 = performance.now();
          const c0 = process.threadCpuUsage();
          const res = await fetch(`${server.url}/healthz`);
          await res.arrayBuffer();
          expect(res.status).toBe(200);
          const c = process.threadCpuUsage(c0);
          const computedMs = (c.user + c.system) / 1000;
          worst = Math.max(worst, Math.min(performance.now() - t0, computedMs));
          probes++;
        }
      })();
      let results: Array<{ status: number; error: string }>;
      try {
        results = await sent;
      } finally {
        stop = true;
        await prober;
        await sender.terminate();
      }
      expect(probes).toBeGreaterThan(5);
      expect(worst).toBeLessThan(100);
      expect(results.filter((r) => r.status !== 400)).toEqual([]);
      expect(new Set(results.map((r) => r.error))).toEqual(new Set(['json_too_deep', 'not_ndjson']));
    } finally {
      await server.close();
    }
  }, 60_000);
});

/** Sends `rounds` rounds of three hostile bodies at once (two 4 MB `[[[…]]]` arrays, one deep NDJSON line) and
 * posts back each answer's status and error code. */
const HOSTILE_SENDER = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, apiKey, rounds } = workerData;
const d = 2000000;
const deepArray = Buffer.from('['.repeat(d) + ']'.repeat(d));
const deepLine = Buffer.from('{"a":' + '['.repeat(450000) + ']'.repeat(450000) + '}');
const hostile = async (body, type) => {
  const res = await fetch(url + '/v1/events', { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': type }, body });
  return { status: res.status, error: (await res.json()).error };
};
(async () => {
  const results = [];
  for (let round = 0; round < rounds; round++) {
    results.push(...(await Promise.all([hostile(deepArray, 'application/json'), hostile(deepArray, 'application/json'), hostile(deepLine, 'application/x-ndjson')])));
  }
  parentPort.postMessage(results);
})();
`;

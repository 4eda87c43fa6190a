// runIngest as a process: it listens where it says, and on SIGTERM lets a request still uploading finish (202),
// disconnects and exits 0. A bad configuration exits 2 naming the variable.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { partitionCounts } from '../../src/kafka-platformatic/topics.ts';
import { API_KEY, brokers, createTopic, topicCount, uniqueTopic, withAdmin } from './support.ts';

const MAIN = fileURLToPath(new URL('../../src/ingest/main.ts', import.meta.url));

function start(env: Record<string, string>): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

async function waitFor(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('runIngest', () => {
  it('serves until SIGTERM, finishes the request in flight, exits 0', async () => {
    const topic = uniqueTopic('ingest-main');
    await createTopic(topic, 2);
    const p = start({
      GAMESTREAM_KAFKA_BROKERS: brokers().join(','), GAMESTREAM_INGEST_PORT: '0', GAMESTREAM_INGEST_TOPIC: topic,
      GAMESTREAM_INGEST_API_KEYS: `game:${API_KEY}`, GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_KAFKA_RAW_PARTITIONS: '2',
    });
    try {
      await waitFor('the listening line', () => /listening on (http:\S+)\/v1\/events/.test(p.out()));
      const url = /listening on (http:\S+)\/v1\/events/.exec(p.out())![1];
      for (let i = 0; i < 100; i++) {
        const h = await fetch(`${url}/healthz`);
        if (h.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // Half a body now, the rest after SIGTERM: the drain must wait for it and still produce it.
      let push!: (s: string | null) => void;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          push = (s) => (s === null ? c.close() : c.enqueue(new TextEncoder().encode(s)));
        },
      });
      const res = fetch(`${url}/v1/events`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit);
      push('{"id":"m1","user_id":"u1","type":1}\n');
      await new Promise((r) => setTimeout(r, 200));
      p.child.kill('SIGTERM');
      await waitFor('the drain to start', () => p.out().includes('SIGTERM'));
      push('{"id":"m2","user_id":"u2","type":1}\n');
      push(null);
      const answer = await res;
      expect(answer.status).toBe(202);
      expect(await answer.json()).toEqual({ accepted: 2 });
      expect(await p.exited).toBe(0);
      expect(p.out()).toContain('ingest stopped');
      expect(await topicCount(topic)).toBe(2);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('creates its topic when the cluster has none, and refuses one with too few partitions', async () => {
    const topic = uniqueTopic('ingest-create');
    const env = {
      GAMESTREAM_KAFKA_BROKERS: brokers().join(','), GAMESTREAM_INGEST_PORT: '0', GAMESTREAM_INGEST_TOPIC: topic,
      GAMESTREAM_INGEST_API_KEYS: `game:${API_KEY}`, GAMESTREAM_LOG_LEVEL: 'warn', GAMESTREAM_KAFKA_RAW_PARTITIONS: '3',
    };
    const p = start(env);
    try {
      await waitFor('the listening line', () => /listening on http/.test(p.out()));
      const counts = await withAdmin((a) => partitionCounts(a, [topic]));
      expect(counts.get(topic)).toBe(3);
    } finally {
      p.child.kill('SIGKILL');
    }
    const q = start({ ...env, GAMESTREAM_KAFKA_RAW_PARTITIONS: '8' });
    expect(await q.exited).toBe(1);
    expect(q.out()).toMatch(/topic_invalid.*has 3 partitions.*8/s);
  });

  it('exits 2 on a bad configuration, naming the variable', async () => {
    const p = start({ GAMESTREAM_INGEST_PORT: 'eighty' });
    expect(await p.exited).toBe(2);
    expect(p.out()).toContain('GAMESTREAM_KAFKA_BROKERS is not set');
    expect(p.out()).toContain('GAMESTREAM_INGEST_PORT="eighty"');
  });
});

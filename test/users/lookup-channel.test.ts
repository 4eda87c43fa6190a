import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { GamestreamError } from '../../src/errors.ts';
import type { StoredUserState } from '../../src/users/state.ts';
import { serveUserLookups } from '../../src/users/lookup-channel.ts';

const FIXTURE = new URL('./fixtures/lookup-worker.ts', import.meta.url);

/** Starts the fixture worker and serves its reads with `read`; `ask` sends ids and resolves with its message. */
function start(read: (ids: string[]) => Promise<StoredUserState[]>, timeoutMs = 30_000) {
  const w = new Worker(FIXTURE, { workerData: { timeoutMs } });
  const replies: ((m: unknown) => void)[] = [];
  w.on('message', (m: { t: string; port?: never; flag?: never }) => {
    if (m.t === 'users-port') serveUserLookups(m.port!, m.flag!, read);
    else replies.shift()?.(m);
  });
  return {
    ask: (ids: string[]) => new Promise<unknown>((resolve) => {
      replies.push(resolve);
      w.postMessage(ids);
    }),
    stop: () => w.terminate(),
  };
}

describe('the user-state channel', () => {
  it('answers a blocked worker with the warehouse\'s states, request after request', async () => {
    const t = start(async (ids) => {
      await new Promise((r) => setTimeout(r, 20)); // an answer that comes later than the request
      return ids.filter((id) => id !== 'nobody').map((id) => ({ userId: id, installMs: null, firstSeenMs: id.length, firstPaidMs: null }));
    });
    try {
      expect(await t.ask(['ab', 'nobody'])).toEqual({ t: 'answer', states: [{ userId: 'ab', installMs: null, firstSeenMs: 2, firstPaidMs: null }] });
      expect(await t.ask(['abc'])).toEqual({ t: 'answer', states: [{ userId: 'abc', installMs: null, firstSeenMs: 3, firstPaidMs: null }] });
    } finally {
      await t.stop();
    }
  });

  it('carries a failed read to the worker as the error it was', async () => {
    const t = start(async () => {
      throw new GamestreamError('warehouse_unavailable', 'the warehouse is down', { retryable: true });
    });
    try {
      expect(await t.ask(['a'])).toMatchObject({ t: 'error', code: 'warehouse_unavailable', message: 'the warehouse is down' });
    } finally {
      await t.stop();
    }
  });

  it('gives up after its timeout when no answer comes', async () => {
    const t = start(() => new Promise(() => undefined), 300);
    try {
      expect(await t.ask(['a'])).toMatchObject({ t: 'error', code: 'warehouse_unavailable', message: expect.stringMatching(/longer than 300 ms/) });
    } finally {
      await t.stop();
    }
  });
});

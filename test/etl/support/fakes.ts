/** A clock the test moves by hand, and a local HTTP server that records JSON POSTs. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cancelled, type Clock } from '../../../src/etl/clock.ts';

interface Timer { at: number; resolve: () => void }

export class FakeClock implements Clock {
  private t: number;
  private timers: Timer[] = [];

  constructor(startMs: number) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(cancelled());
      const timer: Timer = { at: this.t + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(cancelled());
      }, { once: true });
    });
  }

  pending(): number {
    return this.timers.length;
  }

  /** The clock jumps (a machine suspended, then woken): every timer due by then fires late, seeing the new time. */
  async jumpTo(targetMs: number): Promise<void> {
    this.t = Math.max(this.t, targetMs);
    await this.advanceTo(targetMs);
  }

  /** Moves time forward timer by timer, letting the woken code run (and arm new timers) before the next. */
  async advanceTo(targetMs: number): Promise<void> {
    for (;;) {
      await settle();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > targetMs) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = Math.max(this.t, targetMs);
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Hook {
  url: string;
  bodies: unknown[];
  /** Status to answer, per request index (default 200). */
  statusFor: (i: number) => number;
  close(): Promise<void>;
}

export async function startHook(statusFor: (i: number) => number = () => 200): Promise<Hook> {
  const bodies: unknown[] = [];
  const hook = { bodies, statusFor } as Hook;
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const i = bodies.length;
      bodies.push(JSON.parse(data));
      res.statusCode = hook.statusFor(i);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  hook.close = () => new Promise<void>((r) => server.close(() => r()));
  return hook;
}

// A tracking server whose producer is a stand-in (always connected, acknowledges after ackMs), for tests of the
// HTTP side that need no Kafka; raw TCP connections to it; waiting on a condition.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startIngestServer, type IngestProducer, type IngestServer, type IngestServerConfig } from '../../src/ingest/server.ts';
import type { OutMessage } from '../../src/ingest/body.ts';
import { logger, serverConfig } from './support.ts';

export class FakeProducer implements IngestProducer {
  ready = true;
  lastError: string | null = null;
  sent = 0;
  private readonly ackMs: number;
  constructor(ackMs = 0) {
    this.ackMs = ackMs;
  }
  start(): void {}
  async send(messages: OutMessage[]): Promise<void> {
    if (this.ackMs > 0) await sleep(this.ackMs);
    this.sent += messages.length;
  }
  retryAfterSeconds(): number {
    return 1;
  }
  async whenReady(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export async function startFake(over: Partial<IngestServerConfig> = {}, producer = new FakeProducer()): Promise<IngestServer> {
  return startIngestServer({ config: serverConfig('ingest-limits', { brokers: ['127.0.0.1:1'], ...over }), logger, openProducer: () => producer });
}

/** A raw TCP connection to the server; `closed` turns true once the server closed it. */
export type Conn = { socket: Socket; closed: () => boolean; received: () => string };

export function open(server: IngestServer): Promise<{ socket: Socket; closed: () => boolean; received: () => string }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let received = '';
    const socket = connect(server.port, '127.0.0.1', () => resolve({ socket, closed: () => closed, received: () => received }));
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('close', () => (closed = true));
    socket.on('error', (err) => {
      closed = true;
      reject(err);
    });
  });
}


/**
 * A TCP proxy between the tracking server's kafkajs client and the real test broker, to break the network on
 * demand (Kafka itself is never faked). kafkajs reaches it through a socketFactory, so even connections to the
 * broker's advertised address go through it.
 * - 'blackhole': bytes in both directions are dropped and connections stay open, as with a partitioned network:
 *   nothing reaches the broker and nothing comes back, so requests can only time out;
 * - 'refuse': every connection is closed and new ones are refused at once, as with a stopped broker.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';

export type ProxyMode = 'pass' | 'blackhole' | 'refuse';

export class FaultProxy {
  mode: ProxyMode = 'pass';
  /** Bytes the client sent toward the broker while passing. */
  bytesToBroker = 0;
  private readonly target: { host: string; port: number };
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor(broker: string) {
    const [host, port] = broker.split(':');
    this.target = { host, port: Number(port) };
    this.server = createServer((client) => this.accept(client));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** For kafkajs's `socketFactory`: every broker connection goes to the proxy instead. */
  readonly socketFactory: ISocketFactory = ({ onConnect }) => {
    const s = connect({ host: '127.0.0.1', port: this.port }, onConnect);
    s.setNoDelay(true);
    return s;
  };

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private accept(client: Socket): void {
    this.track(client);
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(this.target);
    this.track(upstream);
    client.on('data', (d: Buffer) => {
      if (this.mode !== 'pass') return;
      this.bytesToBroker += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.mode === 'pass') client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Changes the mode; every open connection is dropped, so no half-delivered request survives the change. */
  set(mode: ProxyMode): void {
    if (mode !== 'blackhole') for (const s of this.sockets) s.destroy();
    this.mode = mode;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/**
 * A TCP proxy in front of a real test broker, to break the network on demand (Kafka itself is never faked). A
 * client only bootstraps through the address it is given and then connects to the broker's advertised address,
 * so the broker is started advertising the proxy's port (startProxiedBroker in support.ts): every connection of
 * the tracking server's client, the bootstrap one and those from metadata alike, then goes through the proxy.
 * - 'blackhole': bytes in both directions are dropped and connections stay open, as with a partitioned network:
 *   nothing reaches the broker and nothing comes back, so requests can only time out;
 * - 'refuse': every connection is closed and new ones are refused at once, as with a stopped broker.
 * And muteOpen(): the broker's answers on the connections open now are dropped while their requests still reach
 * it (a lost answer); new connections pass.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole' | 'refuse';

export class FaultProxy {
  mode: ProxyMode = 'pass';
  /** Bytes the client sent toward the broker while passing. */
  bytesToBroker = 0;
  private readonly target: { host: string; port: number };
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<Socket>();
  private readonly muted = new WeakSet<Socket>();
  private listenPort = 0;

  /** `broker`: host:port of the broker's own listener, where passing connections are forwarded. */
  constructor(broker: string) {
    const [host, port] = broker.split(':');
    this.target = { host, port: Number(port) };
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on 127.0.0.1, on a free port. */
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.listenPort = (this.server.address() as { port: number }).port;
  }

  get port(): number {
    return this.listenPort;
  }

  /** host:port for a client's bootstrap list. */
  get address(): string {
    return `127.0.0.1:${this.listenPort}`;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private accept(client: Socket): void {
    this.track(client);
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    client.setNoDelay(true);
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(this.target);
    upstream.setNoDelay(true);
    this.track(upstream);
    client.on('data', (d: Buffer) => {
      if (this.mode !== 'pass') return;
      this.bytesToBroker += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (this.mode === 'pass' && !this.muted.has(client)) client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** From now on, the connections open now deliver requests to the broker but drop its answers. */
  muteOpen(): void {
    for (const c of this.clients) this.muted.add(c);
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

/**
 * The supervisor's side of the user states (src/users/): it builds the filter of users the warehouse may have,
 * answers the workers' reads of user states, and keeps the filter current as commits add users and as
 * partitions arrive from other daemons.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import type { Warehouse } from '../sinks/sink.ts';
import { KnownUsers } from '../users/known-users.ts';
import { serveUserLookups } from '../users/lookup-channel.ts';

export interface UserLinkOptions {
  warehouse: Warehouse;
  /** The source this daemon runs. */
  source: string;
  log: Logger;
  say: (line: string) => void;
}

export class UserLink {
  private readonly o: UserLinkOptions;
  private known: KnownUsers | null = null;
  /** The workers' channels, held until each closes (see serveUserLookups). */
  private readonly ports = new Set<MessagePort>();

  constructor(o: UserLinkOptions) {
    this.o = o;
  }

  /** Reads every user id the warehouse holds into a new filter, sized for them and for as many again. */
  async open(): Promise<void> {
    const { warehouse, log } = this.o;
    const total = await warehouse.countUsers();
    const known = KnownUsers.forUsers(total);
    let read = 0;
    let said = 0;
    await warehouse.readUserIds(null, (ids) => {
      for (const id of ids) known.add(id);
      read += ids.length;
      if (read - said >= 1_000_000) {
        said = read;
        this.o.say(`user states: ${read.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} users read from the warehouse`);
      }
    });
    this.known = known;
    log.info({ users: read, filterCapacity: known.capacity }, 'user states ready');
  }

  /** The filter's memory, for the workers. */
  get filter(): SharedArrayBuffer {
    if (!this.known) throw new Error('UserLink.open() has not run');
    return this.known.sharedBuffer;
  }

  /** Answers one worker's reads (its 'users-port' message). */
  serve(port: MessagePort, flag: SharedArrayBuffer): void {
    this.ports.add(port);
    port.once('close', () => this.ports.delete(port));
    serveUserLookups(port, flag, (ids) => this.o.warehouse.readUserStates(ids), (users, waitedMs) =>
      this.o.log.warn({ users, waitedMs }, 'a worker has waited long for user states from the warehouse'));
  }

  /**
   * A commit landed: the users its flushes created are in the warehouse now. Runs before the workers hear of
   * the commit, since from then on they may forget those users and must find them in the filter.
   */
  committed(flushes: { newUsers?: string[] }[]): void {
    for (const f of flushes) for (const id of f.newUsers ?? []) this.known?.add(id);
  }

  /** Partitions taken over from another daemon: the users it added to them. */
  async catchUp(partitions: number[]): Promise<void> {
    let n = 0;
    await this.o.warehouse.readUserIds({ source: this.o.source, partitions }, (ids) => {
      for (const id of ids) this.known?.add(id);
      n += ids.length;
    });
    this.o.log.debug({ partitions: partitions.length, users: n }, 'user filter caught up for partitions taken over');
  }
}

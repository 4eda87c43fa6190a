/**
 * How a worker thread reads user states from the warehouse, which only the supervisor's thread may touch.
 *
 * The worker asks on a MessagePort of its own and blocks (Atomics.wait) until the supervisor has answered and
 * raised a flag in shared memory; then it takes the answer off the port with receiveMessageOnPort. Blocking
 * keeps the worker's message order: no batch, watermark or flush can slip in between a batch's read and its
 * rows. Reads are rare (a user the thread has not seen lately), and one read serves a whole batch.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { fromWire, GamestreamError, toWire } from '../errors.ts';
import type { UserLookupReply, UserLookupRequest } from '../actors/protocol.ts';
import type { StoredUserState } from './state.ts';

/** Waits in slices, so a thread being terminated stops between them. */
const WAIT_SLICE_MS = 500;
/** A read that takes this long is reported, and again every as long, while a worker waits for it. */
const SLOW_READ_MS = 10_000;

/** The worker's end: a synchronous lookup. */
export class UserLookupClient {
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private readonly timeoutMs: number;

  /** Makes the channel; `remote` and `flag` go to the supervisor (transfer `remote`). */
  static create(timeoutMs: number): { client: UserLookupClient; remote: MessagePort; flag: SharedArrayBuffer } {
    const { port1, port2 } = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    return { client: new UserLookupClient(port1, new Int32Array(flag), timeoutMs), remote: port2, flag };
  }

  private constructor(port: MessagePort, flag: Int32Array, timeoutMs: number) {
    this.port = port;
    this.flag = flag;
    this.timeoutMs = timeoutMs;
  }

  lookup(userIds: string[]): StoredUserState[] {
    Atomics.store(this.flag, 0, 0);
    const req: UserLookupRequest = { userIds };
    this.port.postMessage(req);
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(this.flag, 0) === 0) {
      if (Date.now() >= deadline) {
        throw new GamestreamError('warehouse_unavailable', `reading ${userIds.length} user state(s) from the warehouse took longer than ${this.timeoutMs} ms`, { retryable: true });
      }
      Atomics.wait(this.flag, 0, 0, WAIT_SLICE_MS);
    }
    const got = receiveMessageOnPort(this.port);
    if (!got) throw new GamestreamError('internal', 'the user-state reply was signalled but is not on the port');
    const reply = got.message as UserLookupReply;
    if ('error' in reply) throw fromWire(reply.error);
    return reply.states;
  }
}

/** The supervisor's end: answers each request with `read`, then wakes the worker. */
export function serveUserLookups(
  port: MessagePort, flagBuffer: SharedArrayBuffer, read: (userIds: string[]) => Promise<StoredUserState[]>,
  onSlow?: (users: number, waitedMs: number) => void,
): void {
  const flag = new Int32Array(flagBuffer);
  const answer = (reply: UserLookupReply): void => {
    port.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  };
  port.on('message', (req: UserLookupRequest) => {
    // A worker waits for this answer and does nothing else meanwhile: say so when it takes long.
    const started = Date.now();
    const slow = onSlow ? setInterval(() => onSlow(req.userIds.length, Date.now() - started), SLOW_READ_MS) : null;
    read(req.userIds).then(
      (states) => answer({ states }),
      (err: unknown) => answer({ error: toWire(err) }),
    ).finally(() => {
      if (slow) clearInterval(slow);
    });
  });
  // Kept referenced by the caller (UserLink) until the worker's thread ends and closes it: an unreferenced port
  // may be collected, and a worker would then wait for an answer that never comes.
}

/**
 * Writes one table's rows through the Storage Write API.
 *
 * Rows go to PENDING streams with explicit offsets, so an append retried after a lost answer is answered
 * ALREADY_EXISTS instead of writing twice: every step up to the commit can be repeated safely. Nothing in a
 * pending stream is visible until `commitStreams`, which BigQuery applies atomically per table.
 *
 * Several streams (each on its own connection) carry one batch in parallel when it is large: one connection
 * carries about 10 MB/s.
 */
import { managedwriter } from '@google-cloud/bigquery-storage';
import { GamestreamError } from '../../errors.ts';
import { isTransient, tablePath, withRetries, withTimeout, type BigQueryTarget, type RetryPolicy } from './client.ts';
import { splitRequests, type BadRow, type EncodedRows, type RowCodec } from './rows.ts';
import type { BqTableSpec } from './tables.ts';

export interface WriterContext {
  writer: managedwriter.WriterClient;
  target: BigQueryTarget;
  retry: RetryPolicy;
  /** Per call: an append, a stream creation, a commit. */
  timeoutMs: number;
  maxRequestBytes: number;
  /** Streams per table per batch, at most. */
  parallel: number;
  /** Requests in flight per connection. */
  inflight: number;
  onRequest?: (table: string, rows: number, bytes: number) => void;
}

const ALREADY_EXISTS = 6;
const INVALID_ARGUMENT = 3;

/** A transient failure that carries what to retry. */
function transient(message: string, cause?: unknown): GamestreamError {
  return new GamestreamError('warehouse_write_failed', message, { retryable: true, cause });
}

export class TableWriter {
  readonly spec: BqTableSpec;
  private readonly ctx: WriterContext;
  readonly codec: RowCodec;
  private readonly path: string;

  constructor(ctx: WriterContext, spec: BqTableSpec, codec: RowCodec) {
    this.ctx = ctx;
    this.spec = spec;
    this.codec = codec;
    this.path = tablePath(ctx.target, spec.name);
  }

  /**
   * Writes `enc` to new PENDING streams and finalizes them. Returns the stream names (to commit later) and the
   * rows BigQuery refused, which the caller dead-letters. `enc` is not modified.
   */
  async writePending(enc: EncodedRows): Promise<{ streams: string[]; rejected: BadRow[] }> {
    const n = enc.rows.length;
    if (n === 0) return { streams: [], rejected: [] };
    const parts = Math.max(1, Math.min(this.ctx.parallel, Math.floor(enc.bytes / this.ctx.maxRequestBytes)));
    const bounds: [number, number][] = [];
    for (let i = 0; i < parts; i++) bounds.push([Math.floor((n * i) / parts), Math.floor((n * (i + 1)) / parts)]);
    const results = await Promise.all(
      bounds.map(([a, b]) => this.writeOneStream(enc, a, b)),
    );
    return { streams: results.map((r) => r.stream), rejected: results.flatMap((r) => r.rejected) };
  }

  /** Rows [from, to) of `enc` to one new PENDING stream. */
  private async writeOneStream(enc: EncodedRows, from: number, to: number): Promise<{ stream: string; rejected: BadRow[] }> {
    let rows = enc.rows.slice(from, to);
    // Index in `enc` of each row still to write (rows refused by the API drop out).
    let index = Array.from({ length: to - from }, (_, i) => from + i);
    const { writer, retry, timeoutMs } = this.ctx;
    const stream = await withRetries(`creating a write stream for ${this.spec.name}`, retry, () =>
      withTimeout('CreateWriteStream', timeoutMs, writer.createWriteStream({ streamType: managedwriter.PendingStream, destinationTable: this.path })),
    );
    const rejected: BadRow[] = [];
    let confirmed = 0; // rows [0, confirmed) are in the stream at offsets [0, confirmed)
    await withRetries(`appending rows to ${this.spec.name}`, retry, async () => {
      while (confirmed < rows.length) {
        let r;
        try {
          r = await this.appendFrom(stream, rows, confirmed);
        } catch (err) {
          const c = (err as { confirmed?: number }).confirmed;
          if (typeof c === 'number') confirmed = c;
          throw err;
        }
        confirmed = r.confirmed;
        if (r.rowErrors.length > 0) {
          // The request failed as a whole; drop only the rows it names and send the rest again.
          const drop = new Set(r.rowErrors.map((e) => e.index));
          for (const e of r.rowErrors) rejected.push({ row: enc.objectAt(index[e.index]!), reason: e.message });
          const keep = (_: unknown, i: number): boolean => !drop.has(i);
          rows = rows.filter(keep);
          index = index.filter(keep);
        }
      }
    });
    await withRetries(`finalizing a write stream of ${this.spec.name}`, retry, async () => {
      try {
        const res = await withTimeout('FinalizeWriteStream', timeoutMs, writer.finalizeWriteStream({ name: stream }));
        const count = Number(res.rowCount ?? -1);
        if (count !== rows.length) {
          throw new GamestreamError('warehouse_write_failed', `stream ${stream} holds ${count} rows after finalize, ${rows.length} were written`);
        }
      } catch (err) {
        // A retried finalize of a stream that the lost first attempt finalized: BigQuery refuses it, and that
        // refusal is no transient failure. A transient one (our own 'FinalizeWriteStream timed out', a reset) is
        // retried: taking it for "already finalized" left the stream open and failed the commit for good.
        if (!isTransient(err) && /finaliz/i.test((err as Error).message) && !/holds/.test((err as Error).message)) return;
        throw err;
      }
    });
    return { stream, rejected };
  }

  /**
   * Sends rows [from, …) with up to `inflight` requests in flight on a fresh connection. Returns how far the
   * stream is confirmed, and the row errors of the first refused request (indexes into `rows`).
   * A failure throws with `confirmed` set on the error, so the retry resumes after the confirmed requests.
   */
  private async appendFrom(stream: string, rows: Uint8Array[], from: number): Promise<{ confirmed: number; rowErrors: { index: number; message: string }[] }> {
    const { writer, timeoutMs, maxRequestBytes, inflight } = this.ctx;
    const connection = await withTimeout('opening an AppendRows connection', timeoutMs, writer.createStreamConnection({ streamId: stream }));
    // Errors also arrive as results of the pending writes; without a listener the connection would throw them.
    connection.onConnectionError(() => undefined);
    const w = new managedwriter.Writer({ connection, protoDescriptor: this.codec.descriptor });
    const requests = splitRequests(rows, maxRequestBytes - 64 * 1024, from);
    let confirmed = from;
    try {
      const sent: { a: number; b: number; pw: ReturnType<managedwriter.Writer['appendRows']> }[] = [];
      let next = 0;
      while (next < requests.length || sent.length > 0) {
        while (next < requests.length && sent.length < inflight) {
          const [a, b] = requests[next++]!;
          const batch = rows.slice(a, b);
          this.ctx.onRequest?.(this.spec.name, b - a, batch.reduce((s, x) => s + x.length, 0));
          sent.push({ a, b, pw: w.appendRows({ serializedRows: batch }, a) });
        }
        const head = sent.shift()!;
        let res;
        try {
          res = await withTimeout('AppendRows', timeoutMs, head.pw.getResult());
        } catch (err) {
          throw transient(`AppendRows to ${this.spec.name} failed at offset ${head.a}: ${(err as Error).message}`, err);
        }
        const e = res.error;
        if (e && e.code !== ALREADY_EXISTS) {
          const rowErrors = (res.rowErrors ?? []).map((x) => ({ index: head.a + Number(x.index ?? 0), message: x.message ?? 'rejected' }));
          if (rowErrors.length > 0) return { confirmed, rowErrors };
          const err = Object.assign(new Error(`AppendRows to ${this.spec.name} at offset ${head.a}: ${e.message ?? ''} (code ${e.code})`), { code: e.code });
          if (e.code === INVALID_ARGUMENT) {
            throw new GamestreamError('warehouse_write_failed', `BigQuery refused rows for ${this.spec.name}: ${e.message}`, { cause: err });
          }
          // OUT_OF_RANGE after an earlier failure, UNAVAILABLE, … : resend from what is confirmed.
          throw transient(err.message, err);
        }
        confirmed = head.b;
      }
      return { confirmed, rowErrors: [] };
    } catch (err) {
      // Report progress through the error, so the retry resumes after the confirmed requests.
      (err as { confirmed?: number }).confirmed = confirmed;
      throw err;
    } finally {
      w.close();
      connection.close();
    }
  }

  /** Appends to the table's default stream: committed on acknowledgement, at least once on retries. */
  async appendDefault(enc: EncodedRows): Promise<void> {
    const { writer, retry, timeoutMs } = this.ctx;
    await withRetries(`appending to ${this.spec.name}`, retry, async () => {
      const connection = await withTimeout('opening an AppendRows connection', timeoutMs,
        writer.createStreamConnection({ streamId: `${this.path}/streams/_default` }));
      connection.onConnectionError(() => undefined);
      const w = new managedwriter.Writer({ connection, protoDescriptor: this.codec.descriptor });
      try {
        const res = await withTimeout('AppendRows', timeoutMs, w.appendRows({ serializedRows: enc.rows }).getResult());
        if (res.error) {
          const err = Object.assign(new Error(`AppendRows to ${this.spec.name}: ${res.error.message} (code ${res.error.code})`), { code: res.error.code });
          throw err;
        }
      } finally {
        w.close();
        connection.close();
      }
    });
  }
}

/** Commits finalized PENDING streams of one table atomically. Streams already committed count as done. */
export async function commitStreams(ctx: WriterContext, table: string, streams: string[]): Promise<void> {
  if (streams.length === 0) return;
  let todo = streams;
  await withRetries(`committing ${streams.length} stream(s) of ${table}`, ctx.retry, async () => {
    // A batch commit is all or nothing: when some streams were committed already (a roll-forward of a commit
    // that got halfway), BigQuery commits none of the batch. Those are dropped and the rest sent again.
    while (todo.length > 0) {
      const res = await withTimeout('BatchCommitWriteStreams', ctx.timeoutMs,
        ctx.writer.batchCommitWriteStream({ parent: tablePath(ctx.target, table), writeStreams: todo }));
      const errors = res.streamErrors ?? [];
      if (errors.length === 0) {
        if (!res.commitTime) throw transient(`BatchCommitWriteStreams for ${table} returned no commit time`);
        return;
      }
      const done = new Set<string>();
      const failures = errors.filter((e) => {
        const code = String(e.code);
        const committed = code === 'STREAM_ALREADY_COMMITTED' || code === '2' ||
          // Some servers report a second commit as an invalid state of a COMMITTED stream.
          ((code === 'INVALID_STREAM_STATE' || code === '5') && /state=COMMITTED|already committed/i.test(e.errorMessage ?? ''));
        if (committed && e.entity) done.add(e.entity);
        return !committed;
      });
      if (failures.length > 0) {
        const what = failures.map((e) => `${e.entity}: ${e.code} ${e.errorMessage ?? ''}`).join('; ');
        throw new GamestreamError('warehouse_commit_failed',
          `BigQuery did not commit stream(s) of ${table}: ${what}. Their rows are not in the table; the commit log still lists them.`);
      }
      const rest = todo.filter((s) => !done.has(s));
      if (rest.length === todo.length) throw transient(`BatchCommitWriteStreams for ${table}: errors for unknown streams`);
      todo = rest;
    }
  });
}

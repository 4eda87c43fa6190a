// Splitting a request body into events (no Kafka involved): which bodies are refused, which bytes and keys each
// event gets.
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { decodeBody, splitEvents, type BodyLimits } from '../../src/ingest/body.ts';
import { GamestreamError } from '../../src/errors.ts';

const limits: BodyLimits = { maxBodyBytes: 1 << 20, maxBatchEvents: 5, maxEventBytes: 200 };

function split(body: string | Buffer, type?: string) {
  const b = splitEvents(typeof body === 'string' ? Buffer.from(body) : body, type, limits);
  return b.messages.map((m) => [m.value.toString(), m.key?.toString() ?? null]);
}

function code(body: string | Buffer, type?: string): string {
  try {
    splitEvents(typeof body === 'string' ? Buffer.from(body) : body, type, limits);
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'accepted';
}

describe('splitEvents', () => {
  it('keeps NDJSON lines byte for byte, JSON or not, and keys them by the first user_id', () => {
    expect(split('\ufeff{"user_id":"a","x":1}\r\n\n  \n{"x":2,"user_id":"b"}\nnope\n{"user_id":"c","user_id":"d"}')).toEqual([
      ['{"user_id":"a","x":1}', 'a'],
      ['{"x":2,"user_id":"b"}', 'b'],
      ['nope', null],
      ['{"user_id":"c","user_id":"d"}', 'c'],
    ]);
    // Invalid UTF-8 in one line does not sink the batch: the bytes go on as they are.
    const bin = Buffer.concat([Buffer.from('{"user_id":"a"}\n'), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('\n')]);
    const got = splitEvents(bin, undefined, limits).messages;
    expect(got[1].value).toEqual(Buffer.from([0xff, 0xfe, 0x00]));
  });

  it('re-serialises JSON array elements, whatever they are', () => {
    expect(split('[ {"user_id" : "a", "n": 1.50}, 3, "s", null, {"user_id":""} ]')).toEqual([
      ['{"user_id":"a","n":1.5}', 'a'], ['3', null], ['"s"', null], ['null', null], ['{"user_id":""}', null],
    ]);
    expect(split('[]', 'application/json')).toEqual([]);
    // An NDJSON content type reads a leading [ as a line, not as an array.
    expect(split('[1]\n{"user_id":"a"}', 'application/x-ndjson')).toEqual([['[1]', null], ['{"user_id":"a"}', 'a']]);
  });

  it('refuses what cannot be split, and what is over the limits', () => {
    expect(code('[1,2')).toBe('not_json_array');
    expect(code('{"a":1}', 'application/json')).toBe('not_json_array');
    expect(code(Buffer.from([0x5b, 0xff, 0x5d]))).toBe('not_json_array');
    expect(code('hello\nworld')).toBe('not_ndjson');
    expect(code('[1]\n[2]', 'application/x-ndjson')).toBe('not_ndjson');
    expect(code('')).toBe('empty_body');
    expect(code('\r\n \n')).toBe('empty_body');
    expect(code(Array(6).fill('{}').join('\n'))).toBe('too_many_events');
    expect(code(`[${Array(6).fill('{}').join(',')}]`)).toBe('too_many_events');
    expect(code(Array(5).fill('{}').join('\n'))).toBe('accepted');
    expect(code(`{"user_id":"a","pad":"${'x'.repeat(200)}"}`)).toBe('event_too_large');
    expect(code(`[{"pad":"${'x'.repeat(200)}"}]`)).toBe('event_too_large');
  });

  it('says a gzip body sent without Content-Encoding is gzip, whatever its type says', () => {
    const gz = gzipSync(Buffer.from('[{"user_id":"a"}]'));
    for (const type of ['application/json', 'application/x-ndjson']) {
      expect(() => splitEvents(gz, type, limits), type).toThrow('send it with Content-Encoding: gzip');
    }
  });

  it('counts the bytes a batch holds, and holds no more than a third over them', () => {
    const b = splitEvents(Buffer.from('{"user_id":"abc"}\nxyz'), undefined, limits);
    expect(b.bytes).toBe(17 + 3 + 3);
    // Events are views of the body, which stays whole until Kafka has them: a body mostly of blank lines gives
    // its events copies instead, so that the budget, which counts the events, counts what is held.
    const padded = Buffer.concat([Buffer.alloc(100_000, 0x0a), Buffer.from('{"user_id":"abc"}')]);
    const p = splitEvents(padded, 'application/x-ndjson', limits);
    expect(p.bytes).toBe(17 + 3);
    expect(p.messages[0]!.value.buffer).not.toBe(padded.buffer);
    expect(p.messages[0]!.key!.buffer).not.toBe(padded.buffer);
    const dense = Buffer.from('{"user_id":"abc"}\n{"user_id":"abd"}\n');
    expect(splitEvents(dense, 'application/x-ndjson', limits).messages[0]!.value.buffer).toBe(dense.buffer);
  });

  it('counts the decompressed bytes against the budget as they come out, and stops when it is spent', async () => {
    const big = gzipSync(Buffer.alloc(3 << 20, 0x20));
    const asked: number[] = [];
    const full = new GamestreamError('ingest_overloaded', 'no room', { retryable: true });
    await expect(decodeBody(big, 'gzip', 8 << 20, (total) => (asked.push(total), total > (1 << 20) ? full : null))).rejects.toBe(full);
    expect(asked.length).toBeGreaterThan(1);
    expect(asked.at(-1)!).toBeLessThan(3 << 20);
    expect(asked).toEqual([...asked].sort((a, b) => a - b));
    // With room, the whole body; over the size limit, body_too_large whatever the budget.
    expect((await decodeBody(big, 'gzip', 8 << 20, () => null)).length).toBe(3 << 20);
    await expect(decodeBody(big, 'gzip', 2 << 20, () => null)).rejects.toMatchObject({ code: 'body_too_large' });
    await expect(decodeBody(big.subarray(0, 100), 'gzip', 8 << 20)).rejects.toMatchObject({ code: 'bad_gzip' });
  });
});

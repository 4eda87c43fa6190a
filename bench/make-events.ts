/**
 * Writes an NDJSON file of synthetic game events for the whole-pipeline bench:
 *   node bench/make-events.ts <path> [count=1000000] [seed=42] [players=5000]
 */
import { createWriteStream, existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { GeneratorSource } from '../src/sources/generator.ts';

export async function makeEventsFile(path: string, count: number, seed = 42, players = 5000): Promise<{ bytes: number }> {
  const gen = new GeneratorSource({ seed, rate: 10_000_000, total: count, badShare: 0.01, players });
  await gen.open();
  const out = createWriteStream(path);
  let bytes = 0;
  for (let chunk = await gen.next(); chunk; chunk = await gen.next()) {
    const buf = Buffer.concat([Buffer.from(chunk.data), Buffer.from('\n')]);
    bytes += buf.length;
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { bytes };
}

/** The NDJSON file the pipeline benches use (made once, seed 42). */
export async function benchEventsFile(events: number): Promise<string> {
  const dir = join(tmpdir(), 'gamestream-bench');
  const input = join(dir, `events-${events}.ndjson`);
  if (!existsSync(input)) {
    process.stderr.write(`generating ${events} events into ${input} …\n`);
    mkdirSync(dir, { recursive: true });
    // Made under another name and renamed when complete, so an interrupted run leaves no short file to reuse.
    const partial = `${input}.${process.pid}.partial`;
    await makeEventsFile(partial, events, 42);
    renameSync(partial, input);
  }
  return input;
}

if (import.meta.main) {
  const [path, count = '1000000', seed = '42', players = '5000'] = process.argv.slice(2);
  if (!path) {
    process.stderr.write('usage: node bench/make-events.ts <path> [count] [seed] [players]\n');
    process.exit(2);
  }
  const t0 = Date.now();
  const { bytes } = await makeEventsFile(path, Number(count), Number(seed), Number(players));
  process.stdout.write(`wrote ${count} events (${(bytes / 1e6).toFixed(1)} MB, ${(bytes / Number(count)).toFixed(0)} B/event) to ${path} in ${Date.now() - t0} ms\n`);
}

/**
 * The source tree's shape, checked with every test run: no import cycle between files of src/ (type imports
 * included: a cycle of types still ties the files' meanings together), no file longer than can be read in one
 * sitting, no import that runs up the layers, and each backend's library used only in its adapter folder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const MAX_LINES = 450;
/**
 * The layers, lowest first: a file may import its own layer and those below. Adapters (one folder per backend)
 * sit above the engine and its ports; only the composition roots, which put a process together, import them.
 */
const LAYERS: { name: string; of: (rel: string) => boolean }[] = [
  { name: 'core', of: (r) => ['errors.ts', 'log.ts', 'pid.ts', 'version.ts'].includes(r) || r.startsWith('contract/') },
  { name: 'config', of: (r) => r.startsWith('config/') },
  { name: 'engine and ports', of: (r) => !/^(cli\/|ingest\/main\.ts$|kafka-platformatic\/|sinks\/duckdb\/|sinks\/bigquery\/)/.test(r) },
  { name: 'adapters', of: (r) => /^(kafka-platformatic|sinks\/duckdb|sinks\/bigquery)\//.test(r) },
  { name: 'composition roots', of: () => true },
];
const layerOf = (rel: string): number => LAYERS.findIndex((l) => l.of(rel));
/** An adapter folder, for the rule that adapters do not import each other. */
const adapterOf = (rel: string): string | null => /^(kafka-platformatic|sinks\/duckdb|sinks\/bigquery)\//.exec(rel)?.[1] ?? null;

/** Imports that run up the layers, or from one adapter into another. */
function layerViolations(graph: Map<string, string[]>, root: string): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = relative(root, file);
    for (const t of targets) {
      const to = relative(root, t);
      if (layerOf(to) > layerOf(from)) out.push(`${from} (${LAYERS[layerOf(from)]!.name}) imports ${to} (${LAYERS[layerOf(to)]!.name})`);
      else if (adapterOf(from) && adapterOf(to) && adapterOf(from) !== adapterOf(to)) out.push(`${from} imports ${to}, another adapter`);
    }
  }
  return out;
}

/** Backend libraries and the one folder of src/ that may import each. */
const ADAPTERS: [library: string, folder: string][] = [
  ['@platformatic/kafka', 'kafka-platformatic/'],
  ['@duckdb/node-api', 'sinks/duckdb/'],
  ['@google-cloud/bigquery', 'sinks/bigquery/'],
  ['@google-cloud/bigquery-storage', 'sinks/bigquery/'],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The files of src/ a file imports (static imports, re-exports and modules loaded when needed, types included). */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms)) out.push(resolve(dirname(file), m[1]!));
  // Modules loaded when needed (a backend's adapter) are imports too; so are `typeof import(…)` types.
  for (const m of text.matchAll(/\bimport\('(\.[^']+)'\)/g)) out.push(resolve(dirname(file), m[1]!));
  return out;
}

/** Every cycle's files (strongly connected components of more than one file, or a file importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the source tree', () => {
  const files = sourceFiles(SRC);
  const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));

  it('has no import cycle in src/, type imports included', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f, texts.get(f)!)]));
    expect(graph.size).toBeGreaterThan(50);
    const found = cycles(graph).map((c) => c.map((f) => relative(SRC, f)).sort().join(' → '));
    expect(found).toEqual([]);
  });

  it('has no import that runs up the layers (core, config, engine and ports, adapters, composition roots)', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f, texts.get(f)!)]));
    expect(layerViolations(graph, SRC)).toEqual([]);
  });

  it(`has no file in src/ longer than ${MAX_LINES} lines`, () => {
    const long = files.map((f) => ({ file: relative(SRC, f), lines: texts.get(f)!.split('\n').length - 1 })).filter((f) => f.lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('imports each backend\'s library only in its adapter folder', () => {
    const strays: string[] = [];
    for (const f of files) {
      const rel = relative(SRC, f);
      for (const m of texts.get(f)!.matchAll(/\sfrom\s+'([^'.][^']*)'|\bimport\('([^'.][^']*)'\)/g)) {
        const lib = m[1] ?? m[2];
        const adapter = ADAPTERS.find(([name]) => lib === name);
        if (adapter && !rel.startsWith(adapter[1])) strays.push(`${rel} imports ${lib}`);
      }
    }
    expect(strays).toEqual([]);
  });

  it('has no kafkajs left: not a dependency, not imported anywhere in src/, test/ or bench/', () => {
    const pkg = JSON.parse(readFileSync(join(SRC, '..', 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    expect(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })).not.toContain('kafkajs');
    const all = ['src', 'test', 'bench'].flatMap((d) => sourceFiles(join(SRC, '..', d)));
    const users = all.filter((f) => /\sfrom\s+'kafkajs'|import\('kafkajs'\)/.test(readFileSync(f, 'utf8'))).map((f) => relative(join(SRC, '..'), f));
    expect(users).toEqual([]);
  });

  it('would see an import up the layers (the check itself works)', () => {
    const g = new Map([
      ['/s/errors.ts', ['/s/config/schema.ts']],
      ['/s/config/schema.ts', ['/s/etl/config.ts']],
      ['/s/actors/supervisor.ts', ['/s/sinks/duckdb/duckdb-warehouse.ts', '/s/sinks/sink.ts']],
      ['/s/sinks/bigquery/a.ts', ['/s/sinks/duckdb/sql.ts', '/s/etl/dialect.ts']],
      ['/s/cli/run.ts', ['/s/sinks/duckdb/duckdb-warehouse.ts']],
    ]);
    expect(layerViolations(g, '/s')).toEqual([
      'errors.ts (core) imports config/schema.ts (config)',
      'config/schema.ts (config) imports etl/config.ts (engine and ports)',
      'actors/supervisor.ts (engine and ports) imports sinks/duckdb/duckdb-warehouse.ts (adapters)',
      'sinks/bigquery/a.ts imports sinks/duckdb/sql.ts, another adapter',
    ]);
  });

  it('would see a cycle (the check itself works)', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(cycles(g).map((c) => c.sort())).toEqual([['a', 'b', 'c']]);
  });
});

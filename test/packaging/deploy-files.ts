/**
 * Reading the packaging files the way their consumers do: the Containerfile's ENV, systemd units and
 * environment files, YAML (through Python's PyYAML, which docker-compose depends on), and the configuration
 * loaders the processes run at start, so a test can check that what a file sets is what gamestream accepts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadFaults } from '../../src/config/faults.ts';
import { loadConfig, type Config } from '../../src/config/schema.ts';
import { unknownVarProblems } from '../../src/cli/env-vars.ts';
import { loadEtlConfig } from '../../src/etl/config.ts';
import { loadIngestConfig, type IngestConfig } from '../../src/ingest/config.ts';
import { loadObservabilityConfig, type ObservabilityConfig } from '../../src/observability/config.ts';
import { REPO_ROOT } from '../support/truth/engine.ts';

export { REPO_ROOT };
export const repoFile = (rel: string): string => readFileSync(join(REPO_ROOT, rel), 'utf8');

/** The ENV of the Containerfile's last stage (the image), `ENV A=1 B=2` or `ENV A 1` lines. */
export function imageEnv(): Record<string, string> {
  const text = repoFile('Containerfile').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM\s/m);
  const env: Record<string, string> = {};
  for (const line of stages[stages.length - 1]!.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    if (!m[1]!.includes('=')) {
      const [k, ...v] = m[1]!.split(/\s+/);
      env[k!] = v.join(' ');
      continue;
    }
    for (const pair of m[1]!.trim().split(/\s+/)) {
      const i = pair.indexOf('=');
      env[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  return env;
}

export interface EnvFile {
  /** The lines in effect. */
  active: Record<string, string>;
  /** Each block of consecutive commented-out NAME=value lines: one choice the file offers. */
  choices: Record<string, string>[];
}

/** An EnvironmentFile= of systemd (NAME=value lines, # comments), with its commented-out choices. */
export function readEnvFile(rel: string): EnvFile {
  const out: EnvFile = { active: {}, choices: [] };
  let block: Record<string, string> | null = null;
  for (const raw of repoFile(rel).split('\n')) {
    const line = raw.trim();
    const choice = /^#([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    const set = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (choice) {
      block ??= {};
      block[choice[1]!] = choice[2]!;
      continue;
    }
    if (block) out.choices.push(block);
    block = null;
    if (set) out.active[set[1]!] = set[2]!;
    else if (line !== '' && !line.startsWith('#')) throw new Error(`${rel}: not a NAME=value line: ${raw}`);
  }
  if (block) out.choices.push(block);
  return out;
}

/** A systemd unit: section → key → values, in order (a key may repeat). */
export function readUnit(rel: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | null = null;
  for (const raw of repoFile(rel).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = out[head[1]!] ??= {};
      continue;
    }
    const i = line.indexOf('=');
    if (!section || i < 0) throw new Error(`${rel}: unexpected line: ${raw}`);
    (section[line.slice(0, i).trim()] ??= []).push(line.slice(i + 1).trim());
  }
  return out;
}

/** The one value of a unit's key. */
export function unitValue(unit: Record<string, Record<string, string[]>>, section: string, key: string): string {
  const v = unit[section]?.[key];
  if (!v || v.length !== 1) throw new Error(`[${section}] ${key}: expected one value, got ${JSON.stringify(v)}`);
  return v[0]!;
}

/** A systemd time span (60s, 1min, 1min 30s, 500ms) in milliseconds. */
export function timeSpanMs(span: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+)(ms|s|sec|m|min|h)?$/.exec(part);
    if (!m) throw new Error(`not a time span: ${span}`);
    total += Number(m[1]) * units[m[2] ?? 's']!;
  }
  return total;
}

/** A size as systemd reads MemoryMax= (1024-based K, M, G, T), in bytes. */
export function unitBytes(size: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(size.trim());
  if (!m) throw new Error(`not a size: ${size}`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2] || ' ');
}

/** YAML → JSON value, through PyYAML (safe_load: anchors and merge keys resolved). */
export function parseYaml(text: string): unknown {
  const r = spawnSync('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`YAML did not parse (python3 -c 'import yaml' …): ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout);
}

/** What `gamestream run` would start with under this environment; throws the daemon's own config_invalid error. */
export function daemonConfig(env: Record<string, string>): { config: Config; observability: ObservabilityConfig } {
  const unknown = unknownVarProblems(env);
  if (unknown.length > 0) throw new Error(unknown.join('\n'));
  const config = loadConfig(env);
  loadEtlConfig(env);
  loadFaults(env, config.workers);
  return { config, observability: loadObservabilityConfig(env) };
}

/** What `gamestream ingest` would start with under this environment; throws its config_invalid error. */
export function ingestConfig(env: Record<string, string>): IngestConfig {
  const unknown = unknownVarProblems(env);
  if (unknown.length > 0) throw new Error(unknown.join('\n'));
  return loadIngestConfig(env);
}

/** A TCP port free on 127.0.0.1 just now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command without blocking the test worker (an image build takes minutes); never throws for an exit
 * code. A command still running after `timeoutMs` is killed and reported as such.
 */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs) : null;
    child.on('error', reject);
    // A command that exits without reading its input fails the write with EPIPE; its exit code and output say
    // how it ended, so that error is not the result (unhandled, it failed a whole CI run).
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** run(), and the stdout when it exits 0; otherwise throws with the command and its output. */
export async function must(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n--- stdout ---\n${r.stdout.slice(-4000)}\n--- stderr ---\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

// A daemon run as a child process that a test can watch and signal while it runs (several at once, SIGSTOP,
// kill -9), unlike runEngine, which waits for the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENGINE_MAIN, nodeBinary, REPO_ROOT } from './truth/engine.ts';

/** A daemon we can watch and signal while it runs. Daemons of one test share a `group`, for failure reports. */
export class Daemon {
  readonly child: ChildProcess;
  readonly name: string;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly group: Daemon[];
  constructor(settings: Record<string, string>, name = 'daemon', group: Daemon[] = []) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_')) env[k] = v;
    Object.assign(env, { GAMESTREAM_METRICS_PORT: '0' }, settings);
    this.name = name;
    this.group = group;
    group.push(this);
    this.child = spawn(nodeBinary(), [ENGINE_MAIN, 'run'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString('utf8')));
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }
  async until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${this.name} exited while waiting for ${what}\n${this.report()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.report()}`);
      await sleep(100);
    }
  }
  describe(): string {
    return `--- ${this.name} stdout ---\n${this.stdout.slice(-2500)}\n--- ${this.name} stderr ---\n${this.stderr.slice(-2500)}`;
  }
  /** This daemon's log tail and its group's, for a failure message. */
  report(): string {
    return [this, ...this.group.filter((d) => d !== this)].map((d) => d.describe()).join('\n') + `\n(whole logs: ${LOG_DIR})`;
  }
  /** The whole log, for a failed test: the cause is often in a peer's log, well before the tail. */
  saveLog(): void {
    mkdirSync(LOG_DIR, { recursive: true });
    writeFileSync(join(LOG_DIR, `${this.name.replaceAll(' ', '-')}-${this.child.pid}.log`), `${this.stderr}\n--- stdout ---\n${this.stdout}`);
  }
}

const LOG_DIR = join(REPO_ROOT, 'test-artifacts', 'daemons');

/** Saves another text of a failed test (a broker's log lines, say) beside the daemons' logs; returns its path. */
export function saveArtifact(name: string, text: string): string {
  mkdirSync(LOG_DIR, { recursive: true });
  const path = join(LOG_DIR, name);
  writeFileSync(path, text);
  return path;
}

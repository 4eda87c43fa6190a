// A daemon run as a child process that a test can watch and signal while it runs (several at once, SIGSTOP,
// kill -9), unlike runEngine, which waits for the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENGINE_MAIN, nodeBinary, REPO_ROOT } from './truth/engine.ts';

/** A daemon we can watch and signal while it runs. */
export class Daemon {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(settings: Record<string, string>) {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GAMESTREAM_')) env[k] = v;
    Object.assign(env, { GAMESTREAM_METRICS_PORT: '0' }, settings);
    this.child = spawn(nodeBinary(), [ENGINE_MAIN, 'run'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString('utf8')));
    this.child.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }
  async until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`daemon exited while waiting for ${what}\n${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${this.describe()}`);
      await sleep(100);
    }
  }
  describe(): string {
    return `--- stdout ---\n${this.stdout.slice(-2500)}\n--- stderr ---\n${this.stderr.slice(-2500)}`;
  }
}


#!/usr/bin/env node
// Runs the TypeScript CLI on Node 26 (type stripping). When started by an older system Node, re-execs with
// the Node that `npm ci` installed into node_modules.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
if (major >= 26) {
  // Node's cache of compiled modules (src/cli/main.ts says why), on before the first TypeScript module loads. A
  // default import: Node 20, which re-execs below, has no such export.
  nodeModule.enableCompileCache();
  await import(main);
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`gamestream needs Node 26 or newer (this is ${process.version}); run 'npm ci' to install the pinned one\n`);
    process.exit(1);
  }
  // In its own process group, so that a signal to this one (a terminal's Ctrl-C, a process manager's SIGTERM, sent
  // to the group or to this pid) reaches the daemon exactly once, forwarded from here: a second SIGINT or SIGTERM
  // would make it exit at once instead of draining. Its exit is this one's.
  const child = spawn(pinned, [main, ...process.argv.slice(2)], { stdio: 'inherit', detached: true });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}

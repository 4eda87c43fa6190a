/** The `gamestream` command. */
import { ENV_VARS, loadConfig } from '../config/schema.ts';
import { errorCode } from '../errors.ts';
import { GAMESTREAM_VERSION } from '../version.ts';
import { runDaemon } from './run.ts';

const HELP = `gamestream ${GAMESTREAM_VERSION}: a mobile game's event stream into an analytics warehouse

Usage: gamestream <command>

Commands:
  run        run the daemon (configured by GAMESTREAM_* env vars; see 'gamestream env')
  env        list every env var with its default and what it does
  version    print the version
  help       this text
`;

function printEnv(): void {
  for (const v of ENV_VARS) {
    const def = typeof v.default === 'function' ? `${v.default()} (this machine)` : v.default === '' ? '(empty)' : v.default;
    process.stdout.write(`${v.name}\n  default: ${def}\n  allowed: ${v.allowed}\n  ${v.doc}\n\n`);
  }
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'help';
  switch (cmd) {
    case 'run':
      return runDaemon(loadConfig());
    case 'env':
      printEnv();
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(`${GAMESTREAM_VERSION}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`gamestream: unknown command '${cmd}'\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = errorCode(err);
    process.stderr.write(`gamestream: ${code}: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = code === 'config_invalid' ? 2 : 1;
  },
);

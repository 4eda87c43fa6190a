/** The `gamestream` command. */
import { enableCompileCache } from 'node:module';
import { loadFaults } from '../config/faults.ts';
import { loadConfig } from '../config/schema.ts';
import { errorCode, GamestreamError } from '../errors.ts';
import { loadEtlConfig } from '../etl/config.ts';
import { loadObservabilityConfig } from '../observability/config.ts';
import { allEnvVars, unknownVarProblems } from './env-vars.ts';
import { flag, positiveFlag, takeFlags } from './flags.ts';
import { carryOnWhenPipeCloses, endQuietlyWhenPipeCloses } from './stdout.ts';
import { GAMESTREAM_VERSION } from '../version.ts';

const HELP = `gamestream ${GAMESTREAM_VERSION}: a mobile game's event stream into an analytics warehouse

Usage: gamestream <command>

Commands:
  run        run the daemon (configured by GAMESTREAM_* env vars; see 'gamestream env')
  etl        the daily ETL by hand: etl run --date D [--force] | etl backfill --from D1 --to D2 [--force] | etl status
  dlq        the dead letters: dlq stats | dlq show [--code C …] | dlq export (their raw records, NDJSON)
             | dlq replay [--code C …] [--dry-run] (through the pipeline again, each letter once)
  sql        one read-only query of the warehouse, also while the daemon runs: sql "SELECT …" [--format table|ndjson|csv]
  ingest     run the tracking server: POST /v1/events → Kafka (GAMESTREAM_INGEST_* and GAMESTREAM_KAFKA_BROKERS)
  loadgen    post synthetic game traffic to a tracking server:
               gamestream loadgen --url URL --api-key KEY [--rate 5000] [--seconds 30] [--batch 500] [--gzip]
  env        list every env var with its default and what it does
  version    print the version
  help       this text
`;

function printEnv(): void {
  for (const v of allEnvVars()) {
    const def = typeof v.default === 'function' ? `${v.default()} (this machine)` : v.default === '' ? '(empty)' : v.default;
    const given = process.env[v.name];
    // The value in effect and where it comes from; a secret is shown the way its errors show it.
    const now = given === undefined ? 'the default' : `${v.show ? v.show(given) : JSON.stringify(given)} (from the environment)`;
    process.stdout.write(`${v.name}\n  in effect: ${now}\n  default: ${def}\n  allowed: ${v.allowed}\n  ${v.doc}\n\n`);
  }
}

async function loadgen(given: string[]): Promise<number> {
  const args = takeFlags(given, 'loadgen', ['url', 'api-key', 'rate', 'seconds', 'batch'], ['gzip']);
  const url = flag(args, 'url');
  const apiKey = flag(args, 'api-key') ?? process.env.GAMESTREAM_LOADGEN_API_KEY;
  if (!url || !apiKey) {
    throw new GamestreamError('config_invalid', 'loadgen needs --url (the tracking server, e.g. http://127.0.0.1:8088) and --api-key (or GAMESTREAM_LOADGEN_API_KEY)');
  }
  const { formatLoadgenReport, runLoadgen } = await import('../ingest/loadgen.ts');
  const report = await runLoadgen({
    url,
    apiKey,
    rate: positiveFlag(args, 'rate', 5000),
    seconds: positiveFlag(args, 'seconds', 30),
    batchSize: positiveFlag(args, 'batch', 500),
    gzip: args.includes('--gzip'),
  });
  process.stdout.write(`${formatLoadgenReport(report)}\n`);
  return report.rejected > 0 ? 1 : 0;
}

/**
 * Loads a command's configuration, and refuses GAMESTREAM_* variables that nothing reads (typos) in the same
 * report as the schemas' own problems.
 */
function configured<T>(load: () => T): T {
  const unknown = unknownVarProblems(process.env);
  let value: T;
  try {
    value = load();
  } catch (err) {
    if (unknown.length > 0 && errorCode(err) === 'config_invalid') {
      throw new GamestreamError('config_invalid', `${(err as Error).message}\n  ${unknown.join('\n  ')}`, { cause: err });
    }
    throw err;
  }
  if (unknown.length > 0) throw new GamestreamError('config_invalid', `invalid configuration:\n  ${unknown.join('\n  ')}`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0] ?? 'help';
  // Each command loads only its own modules (and those of the backends its settings name): a start that loaded
  // every command's and backend's libraries took about 0.6 s more CPU and 70 MB more memory (docs/PERFORMANCE.md).
  // The commands that print listings for a reader (`| head`, `| less`) that may stop reading early; those that
  // write to the warehouse finish their work whatever the reader does.
  const writes = (cmd === 'dlq' && argv[1] === 'replay') || (cmd === 'etl' && (argv[1] === 'run' || argv[1] === 'backfill'));
  if (writes) carryOnWhenPipeCloses();
  else if (['env', 'dlq', 'sql', 'etl'].includes(cmd)) endQuietlyWhenPipeCloses();
  switch (cmd) {
    case 'run': {
      // Every schema first, so every configuration problem is reported before anything starts.
      const [cfg, etl, obs, faults] = configured(() => {
        const c = loadConfig();
        return [c, loadEtlConfig(), loadObservabilityConfig(process.env), loadFaults(process.env, c.workers)] as const;
      });
      return (await import('./run.ts')).runDaemon(cfg, etl, obs, faults);
    }
    case 'etl':
      configured(() => undefined);
      return (await import('./etl.ts')).etlCommand(argv.slice(1));
    case 'ingest':
      configured(() => undefined);
      return (await import('../ingest/main.ts')).runIngest();
    case 'dlq':
      configured(() => undefined);
      return (await import('./dlq.ts')).dlqCommand(argv.slice(1));
    case 'sql':
      configured(() => undefined);
      return (await import('./sql.ts')).sqlCommand(argv.slice(1));
    case 'loadgen':
      return loadgen(argv.slice(1));
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

/** How long a finished command may take to let go of its last handles before it is made to exit. */
const EXIT_GRACE_MS = 5000;

/**
 * Everything a command starts is stopped and awaited before it returns. Should a library still hold a handle
 * (a socket, a timer), the process must exit all the same: a daemon that stopped with an error and never exits
 * is never restarted by its process manager.
 */
function exitWith(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(`gamestream: still running ${EXIT_GRACE_MS} ms after finishing (open: ${process.getActiveResourcesInfo().join(', ')}); exiting\n`);
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}

/**
 * Node's on-disk cache of compiled modules, TypeScript's stripped types included: without it every start, and every
 * worker thread, strips and compiles each module again (about 0.3 CPU-s and 36 MB per start). It lives in
 * os.tmpdir()/node-compile-cache unless NODE_COMPILE_CACHE names a folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 * Worker threads inherit it through the environment. A folder that cannot be written only leaves it off.
 */
function cacheCompiledModules(): void {
  const cache = enableCompileCache();
  if (cache.directory) process.env.NODE_COMPILE_CACHE ??= cache.directory;
}

cacheCompiledModules();
main(process.argv.slice(2)).then(
  (code) => exitWith(code),
  (err: unknown) => {
    const code = errorCode(err);
    process.stderr.write(`gamestream: ${code}: ${(err as Error)?.message ?? String(err)}\n`);
    exitWith(code === 'config_invalid' ? 2 : 1);
  },
);

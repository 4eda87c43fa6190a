/**
 * Prints the Markdown table of every env var (daemon and tracking server) for docs/OPERATIONS.md:
 *   node scripts/env-table.ts
 * test/config/schema.test.ts checks that the document names every variable.
 */
import { ENV_VARS } from '../src/config/schema.ts';
import { INGEST_ENV_VARS } from '../src/ingest/config.ts';

const rows = [...ENV_VARS, ...INGEST_ENV_VARS.filter((i) => !ENV_VARS.some((d) => d.name === i.name))];
const cell = (s: string): string => s.replaceAll('|', '\\|');
console.log('| Variable | Default | Allowed | What it does |\n|---|---|---|---|');
for (const v of rows) {
  const def = typeof v.default === 'function' ? '(computed, see text)' : v.default === '' ? '(empty)' : `\`${v.default}\``;
  console.log(`| \`${v.name}\` | ${def} | ${cell(v.allowed)} | ${cell(v.doc)} |`);
}

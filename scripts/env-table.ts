/**
 * Prints the Markdown table of every env var (daemon, tracking server, ETL) for docs/OPERATIONS.md:
 *   node scripts/env-table.ts
 * test/config/schema.test.ts checks that the document names every variable.
 */
import { allEnvVars } from '../src/cli/env-vars.ts';

const rows = allEnvVars();
const cell = (s: string): string => s.replaceAll('|', '\\|');
console.log('| Variable | Default | Allowed | What it does |\n|---|---|---|---|');
for (const v of rows) {
  const def = typeof v.default === 'function' ? '(computed, see text)' : v.default === '' ? '(empty)' : `\`${v.default}\``;
  console.log(`| \`${v.name}\` | ${def} | ${cell(v.allowed)} | ${cell(v.doc)} |`);
}

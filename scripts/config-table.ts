/** Prints the configuration table of the README from the schema: `node dist/scripts/config-table.js`. */
import { describeSchema } from '../internal/config/load';

const rows = describeSchema();
const esc = (s: string): string => s.replace(/\|/g, '\\|');
process.stdout.write('| key | env | default | expects | meaning |\n|---|---|---|---|---|\n');
for (const r of rows) {
  process.stdout.write(`| \`${r.key}\` | ${r.env !== '' ? `\`${r.env}\`` : ''} | \`${esc(r.default) || '""'}\` | ${esc(r.type)} | ${esc(r.doc)} |\n`);
}

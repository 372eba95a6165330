/**
 * `npm run bench -- <name> [options]` runs `bench/<name>.ts` (e.g. `codec`,
 * `append`). Each benchmark prints a table and writes JSON under bench/results/.
 * Options after the name stay in process.argv for the benchmark to read.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = import.meta.dirname;
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'stack.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
const name = process.argv[2];

if (name === undefined || name.startsWith('-')) {
  process.stderr.write(`usage: npm run bench -- <name> [options]\navailable: ${available.join(', ')}\n`);
  process.exit(2);
}
if (!/^[a-z0-9-]+$/.test(name) || !existsSync(join(dir, `${name}.ts`))) {
  process.stderr.write(`no benchmark named ${JSON.stringify(name)}; available: ${available.join(', ')}\n`);
  process.exit(2);
}
await import(pathToFileURL(join(dir, `${name}.ts`)).href);

/**
 * Imports every text file of a folder into L3, in store_batch requests of up
 * to 200 files, with a progress bar.
 *
 *   npm run example:import -- ./docs       (a daemon on CTXD_PORT, key from CTXD_DATA_DIR or ./data)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { CtxdClient, keyFromDataDir, type StoreRequest } from '../src/client/index.ts';

const folder = process.argv[2];
if (!folder) {
  console.error('usage: npm run example:import -- FOLDER');
  process.exit(2);
}
const TEXT = new Set(['.txt', '.md', '.markdown', '.rst', '.text']);
const BATCH = 200;
const MAX_BYTES = 256 * 1024; // the daemon's default max_text_bytes

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (TEXT.has(extname(name).toLowerCase())) yield path;
  }
}

function bar(done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

const files = [...walk(folder)];
const port = Number(process.env.CTXD_PORT ?? 7411);
const key = process.env.CTXD_KEY_ID
  ? { kid: process.env.CTXD_KEY_ID, secret: process.env.CTXD_KEY_SECRET! }
  : keyFromDataDir(process.env.CTXD_DATA_DIR ?? './data');
if (!key) throw new Error('no key: start the daemon once (npm start) or set CTXD_KEY_ID/CTXD_KEY_SECRET');
const ctxd = await CtxdClient.connect({ port, kid: key.kid, secret: key.secret, timeoutMs: 120_000 });

let done = 0;
let stored = 0;
let deduplicated = 0;
const failed: string[] = [];
const live = process.stderr.isTTY;
for (let i = 0; i < files.length; i += BATCH) {
  const chunk = files.slice(i, i + BATCH).filter((f) => {
    const ok = statSync(f).size > 0 && statSync(f).size <= MAX_BYTES;
    if (!ok) failed.push(`${relative(folder, f)}: empty or over ${MAX_BYTES} bytes`);
    return ok;
  });
  const items = chunk.map((f): StoreRequest => ({ text: readFileSync(f, 'utf8'), level: 3, tags: ['import'], metadata: { path: relative(folder, f) } }));
  const { results } = items.length ? await ctxd.storeBatch(items) : { results: [] };
  results.forEach((res, j) => {
    if ('error' in res) failed.push(`${relative(folder, chunk[j]!)}: ${res.error.code} ${res.error.message}`);
    else if (res.deduplicated) deduplicated++;
    else stored++;
  });
  done = Math.min(files.length, i + BATCH);
  process.stderr.write(live ? `\r${bar(done, files.length)}` : `${bar(done, files.length)}\n`);
}
if (live) process.stderr.write('\n');
console.log(`imported ${files.length} files: ${stored} stored, ${deduplicated} deduplicated, ${failed.length} failed`);
for (const f of failed) console.log(`  failed: ${f}`);
await ctxd.close();
process.exitCode = failed.length ? 1 : 0;

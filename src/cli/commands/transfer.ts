/**
 * `ctxd export`, `import`, `purge`: a tenant's data out as JSONL, back in,
 * and wiped (PROTOCOL.md §7.11–7.12). Export and import stream page by page
 * and batch by batch, so memory stays bounded whatever the size.
 *
 * The file: a header line `{"format":"ctxd-export","version":1,"vector_space":…}`,
 * then one exported context per line (with its tenant), gzipped when the
 * file name ends in .gz or --gzip is given.
 */
import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createGunzip, createGzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { ImportItem, OpAnswer } from '../../client/index.ts';
import { importItem } from '../../protocol/ops/requests.ts';
import { Ajv } from 'ajv';
import { progress, progressDone } from '../progress.ts';
import { CONNECTION_HELP, confirm, EXIT, parse, print, reportError, showHelp, UsageError, withClient, type Env } from '../common.ts';
import { level } from './contexts.ts';

const FORMAT = 'ctxd-export';
/** Items per import request: well under the op's 1,000 and its frame, with vectors. */
const IMPORT_BATCH = 200;
const EXPORT_PAGE = 500;

export const exportHelp = `Usage: ctxd export [flags] [--out FILE]

Writes contexts as JSONL (a header line, then one context per line with its id,
tenant, version, times and access count) to FILE or standard output, page by
page with a progress bar on standard error. Needs an admin key.

  --tenant NAME        this tenant (default: the key's own)
  --all-tenants        every tenant
  --session NAME       only this session
  --level N            only this level
  --vectors            include each vector (base64 float32) and the embedder's identity,
                       so an import into the same embedder does not embed again
  --out FILE           write here (FILE.gz or --gzip: gzipped)
  --gzip               gzip the output

${CONNECTION_HELP}`;

async function write(out: Writable, line: string): Promise<void> {
  if (!out.write(line)) await once(out, 'drain');
}

export async function exportCommand(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, {
      tenant: { type: 'string' }, 'all-tenants': { type: 'boolean' }, session: { type: 'string' }, level: { type: 'string' },
      vectors: { type: 'boolean' }, out: { type: 'string', short: 'o' }, gzip: { type: 'boolean' },
    }, false);
    if (values.help) return showHelp(exportHelp);
    if (values.tenant && values['all-tenants']) throw new UsageError('give --tenant or --all-tenants, not both');
    const body = {
      ...(values.tenant && { tenant: values.tenant }),
      ...(values['all-tenants'] && { all_tenants: true }),
      ...(values.session && { session: values.session }),
      ...(values.level && { level: level(values.level) }),
      ...(values.vectors && { vectors: true }),
      limit: EXPORT_PAGE,
    };
    const gzip = values.gzip || values.out?.endsWith('.gz');
    let exported = 0;
    const code = await withClient('export', values, env, async (c) => {
      // A total for the bar when one tenant is exported (every tenant's count is not known up front).
      const total = values['all-tenants'] ? undefined : (await c.stats(values.tenant ? { tenant: values.tenant } : {})).total;
      const file = values.out ? createWriteStream(values.out, { mode: 0o600 }) : process.stdout;
      const zip = gzip ? createGzip() : undefined;
      // pipeline ends the destination and settles once all of it is flushed (standard output included).
      const zipped = zip ? pipeline(zip, file) : undefined;
      const out: Writable = zip ?? file;
      let header = false;
      for await (const page of c.export(body)) {
        if (!header) {
          await write(out, `${JSON.stringify({ format: FORMAT, version: 1, vector_space: page.vector_space, exported_at: new Date().toISOString() })}\n`);
          header = true;
        }
        for (const item of page.items) await write(out, `${JSON.stringify(item)}\n`);
        exported += page.items.length;
        if (total !== undefined) progress(Math.min(exported, total), total);
        else process.stderr.write(`exported ${exported}\n`);
      }
      if (total !== undefined) progressDone(total);
      if (zip) {
        zip.end();
        await zipped;
      } else if (file !== process.stdout) {
        file.end();
        await finished(file);
      }
      if (values.out) print(values.json, { exported, file: values.out }, () => `exported ${exported} contexts to ${values.out}`);
    });
    return code;
  } catch (e) {
    return reportError('export', e);
  }
}

export const importHelp = `Usage: ctxd import [flags] FILE   (- for standard input; .gz is read gzipped)

Writes the contexts of an export back, with their ids, versions and times, in
batches with a progress bar. Idempotent: an id already stored with the same or
a newer version is kept, so re-running an interrupted import completes it.
Vectors of the daemon's own embedder are kept; others are made again. Needs an admin key.

  --tenant NAME        import everything into this tenant (default: each line's own)
  --dry-run            check every line against the import schema; send nothing

${CONNECTION_HELP}`;

const validateItem = new Ajv({ strict: true, allowUnionTypes: true }).compile<ImportItem>(importItem);

interface Batch {
  tenant: string | undefined;
  items: ImportItem[];
  lines: number[];
}

/** Gzip's magic bytes, whatever the file is called. */
function gzipped(path: string): boolean {
  if (path.endsWith('.gz')) return true;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

async function* lines(path: string): AsyncGenerator<{ text: string; number: number }> {
  const raw: Readable = path === '-' ? process.stdin : createReadStream(path);
  const input = path !== '-' && gzipped(path) ? raw.pipe(createGunzip()) : raw;
  let number = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    number++;
    if (text.trim().length > 0) yield { text, number };
  }
}

export async function importCommand(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { tenant: { type: 'string' }, 'dry-run': { type: 'boolean' } });
    if (values.help) return showHelp(importHelp);
    if (positionals.length !== 1) throw new UsageError('give one file (or - for standard input)');
    const path = positionals[0]!;
    let vectorSpace: string | undefined;
    const counts = { inserted: 0, replaced: 0, kept: 0, reembedded: 0, lines: 0 };
    const refused: Array<{ line: number; code: string; message: string }> = [];

    /** Lines as batches of one tenant each, checked against the import schema on the way. */
    async function* batches(): AsyncGenerator<Batch> {
      let batch: Batch = { tenant: undefined, items: [], lines: [] };
      for await (const { text, number } of lines(path)) {
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          throw new UsageError(`line ${number}: not JSON: ${(e as Error).message}`);
        }
        if (value && typeof value === 'object' && (value as { format?: unknown }).format === FORMAT) {
          const space = (value as { vector_space?: unknown }).vector_space;
          vectorSpace = typeof space === 'string' ? space : undefined;
          continue;
        }
        counts.lines++;
        if (!validateItem(value)) {
          const err = validateItem.errors![0]!;
          refused.push({ line: number, code: 'BAD_REQUEST', message: `${err.instancePath || 'the line'} ${err.message ?? 'is invalid'}` });
          continue;
        }
        const tenant = values.tenant ?? value.tenant;
        if (batch.items.length > 0 && batch.tenant !== tenant) {
          yield batch;
          batch = { tenant, items: [], lines: [] };
        }
        batch.tenant = tenant;
        batch.items.push(value);
        batch.lines.push(number);
        // Sent as soon as it is full: what standard input has given so far is written without waiting for more.
        if (batch.items.length === IMPORT_BATCH) {
          yield batch;
          batch = { tenant: undefined, items: [], lines: [] };
        }
      }
      if (batch.items.length > 0) yield batch;
    }

    if (values['dry-run']) {
      let items = 0;
      const tenants = new Map<string, number>();
      for await (const b of batches()) {
        items += b.items.length;
        tenants.set(b.tenant ?? '(the key\'s)', (tenants.get(b.tenant ?? '(the key\'s)') ?? 0) + b.items.length);
      }
      print(values.json, { dry_run: true, items, refused, tenants: Object.fromEntries(tenants), vector_space: vectorSpace ?? null }, () =>
        [`would import ${items} contexts (${[...tenants].map(([t, n]) => `${t}: ${n}`).join(', ') || 'none'}); ${refused.length} lines refused`,
          ...refused.map((r) => `line ${r.line}: ${r.code}: ${r.message}`)].join('\n'));
      return refused.length > 0 ? EXIT.failed : EXIT.ok;
    }

    const code = await withClient('import', values, env, async (c) => {
      for await (const b of batches()) {
        const r: OpAnswer<'import'> = await c.import(b.items, { ...(b.tenant !== undefined && { tenant: b.tenant }), ...(vectorSpace !== undefined && { vectorSpace }) });
        counts.reembedded += r.reembedded;
        r.results.forEach((res, i) => {
          if ('error' in res) refused.push({ line: b.lines[i]!, code: res.error.code, message: res.error.message });
          else counts[res.status]++;
        });
        process.stderr.write(`imported ${counts.inserted + counts.replaced + counts.kept} of ${counts.lines} lines read\n`);
      }
      print(values.json, { ...counts, refused }, () =>
        [`imported ${counts.inserted} new, ${counts.replaced} replaced, ${counts.kept} already there (${counts.reembedded} re-embedded); ${refused.length} refused`,
          ...refused.map((r) => `line ${r.line}: ${r.code}: ${r.message}`)].join('\n'));
    });
    return code === EXIT.ok && refused.length > 0 ? EXIT.failed : code;
  } catch (e) {
    return reportError('import', e);
  }
}

export const purgeHelp = `Usage: ctxd purge --tenant NAME [--yes]

Deletes everything of one tenant: its contexts at every level and the
persisted request ids of its keys (for erasure requests). Asks for
confirmation on a terminal unless --yes is given. Needs an admin key.

${CONNECTION_HELP}`;

export async function purgeCommand(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, { tenant: { type: 'string' }, yes: { type: 'boolean', short: 'y' } }, false);
    if (values.help) return showHelp(purgeHelp);
    if (!values.tenant) throw new UsageError('--tenant is required (even for the key\'s own tenant)');
    const tenant = values.tenant;
    if (!(await confirm(`everything of tenant ${tenant}`, values.yes))) return EXIT.failed;
    return await withClient('purge', values, env, async (c) => {
      const r = await c.purge(tenant);
      print(values.json, r, () => `purged tenant ${r.tenant}: ${r.contexts} contexts, ${r.replay_ids} request ids`);
    });
  } catch (e) {
    return reportError('purge', e);
  }
}

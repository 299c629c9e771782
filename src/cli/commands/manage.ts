/**
 * `ctxd list`, `update`, `delete-where`, `clear`, `store-batch`: the rest of
 * the context ops from a terminal (PROTOCOL.md §7.4–7.8), one command each.
 */
import { readFileSync } from 'node:fs';
import { progress, progressDone } from '../progress.ts';
import { CONNECTION_HELP, confirm, EXIT, showHelp, UsageError, parse, print, reportError, withClient, type Env } from '../common.ts';
import type { ContextAnswer, OpAnswer, Request, StoreRequest } from '../../client/index.ts';
import { describe, level, metadata, positiveInt } from './contexts.ts';

/** A batch of store_batch never exceeds this many items (PROTOCOL.md §7.4). */
const BATCH_ITEMS = 100;

export const listHelp = `Usage: ctxd list [flags]

Lists contexts in id order, a page at a time (the next page's cursor is printed).

  --level N            only this level
  --session NAME       only this session
  --agent NAME         only this agent
  --limit N            items per page (default 100, at most 1000)
  --cursor ID          start after this id
  --all                follow the cursors to the end

${CONNECTION_HELP}`;

export async function list(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, { level: { type: 'string' }, session: { type: 'string' }, agent: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } }, false);
    if (values.help) return showHelp(listHelp);
    const base = {
      ...(values.level && { level: level(values.level) }),
      ...(values.session && { session: values.session }),
      ...(values.agent && { agent: values.agent }),
      ...(values.limit && { limit: positiveInt(values.limit, '--limit') }),
    };
    return await withClient('list', values, env, async (c) => {
      const items: ContextAnswer[] = [];
      let cursor = values.cursor ?? null;
      for await (const page of c.list({ ...base, ...(cursor && { cursor }) })) {
        items.push(...page.items);
        cursor = page.next_cursor;
        if (!values.all) break;
      }
      print(values.json, { items, next_cursor: cursor }, () => [...items.map(describe), `${items.length} contexts${cursor ? `; next page: --cursor ${cursor}` : ''}`].join('\n'));
    });
  } catch (e) {
    return reportError('list', e);
  }
}

export const updateHelp = `Usage: ctxd update [flags] ID

Changes one context: its text, level, tags (replaced), metadata (merged; KEY=null removes a key) or time to live.

  --text TEXT          the new text (- reads it from standard input)
  --level N            move it to level 1, 2 or 3
  --tag TAG            the new tags (repeatable; replaces them all)
  --meta KEY=VALUE     metadata to merge in (repeatable)
  --ttl SECONDS        a new time to live (0: none)

${CONNECTION_HELP}`;

export async function update(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { text: { type: 'string' }, level: { type: 'string' }, tag: { type: 'string', multiple: true }, meta: { type: 'string', multiple: true }, ttl: { type: 'string' } });
    if (values.help) return showHelp(updateHelp);
    if (positionals.length !== 1) throw new UsageError('give exactly one context id');
    const ttl = values.ttl === undefined ? undefined : values.ttl === '0' ? null : positiveInt(values.ttl, '--ttl');
    const id = positionals[0]!;
    const changes = {
      ...(values.text !== undefined && { text: values.text === '-' ? readFileSync(0, 'utf8') : values.text }),
      ...(values.level && { level: level(values.level) }),
      ...(values.tag && { tags: values.tag }),
      ...(metadata(values.meta) && { metadata: metadata(values.meta) }),
      ...(ttl !== undefined && { ttl_s: ttl }),
    };
    if (Object.keys(changes).length === 0) throw new UsageError('nothing to change: give --text, --level, --tag, --meta or --ttl');
    return await withClient('update', values, env, async (c) => {
      const r = await c.update(id, changes);
      print(values.json, r, () => `updated ${r.id} (version ${r.version})\n${describe(r)}`);
    });
  } catch (e) {
    return reportError('update', e);
  }
}

export const deleteWhereHelp = `Usage: ctxd delete-where [flags]

Deletes every context matching all the conditions given (at least one).

  --level N            of this level
  --session NAME       of this session
  --agent NAME         of this agent
  --tag TAG            with any of these tags (repeatable)
  --meta KEY=VALUE     whose metadata has these values (repeatable)

${CONNECTION_HELP}`;

type DeleteWhere = Request<'delete_where'>;

/** The rule of the delete_where schema (PROTOCOL.md §7.7): at least one condition. */
function hasCondition(body: Partial<DeleteWhere>): body is DeleteWhere {
  return body.level !== undefined || body.session !== undefined || body.agent !== undefined || body.tags_any !== undefined || body.where !== undefined;
}

/** `--meta` pairs as equality conditions: delete_where compares scalars only. */
function scalars(pairs: string[]): NonNullable<DeleteWhere['where']> {
  const out: NonNullable<DeleteWhere['where']> = {};
  for (const [key, value] of Object.entries(metadata(pairs) ?? {})) {
    if (value !== null && typeof value === 'object') throw new UsageError(`--meta ${key}: a condition compares a string, number, true, false or null`);
    out[key] = value as string | number | boolean | null;
  }
  return out;
}

export async function deleteWhere(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, { level: { type: 'string' }, session: { type: 'string' }, agent: { type: 'string' }, tag: { type: 'string', multiple: true }, meta: { type: 'string', multiple: true } }, false);
    if (values.help) return showHelp(deleteWhereHelp);
    const body: Partial<DeleteWhere> = {
      ...(values.level && { level: level(values.level) }),
      ...(values.session && { session: values.session }),
      ...(values.agent && { agent: values.agent }),
      ...(values.tag && { tags_any: values.tag }),
      ...(values.meta && { where: scalars(values.meta) }),
    };
    if (!hasCondition(body)) throw new UsageError('give at least one condition (--level, --session, --agent, --tag, --meta)');
    return await withClient('delete-where', values, env, async (c) => {
      const r = await c.deleteWhere(body);
      print(values.json, r, () => `deleted ${r.deleted} contexts`);
    });
  } catch (e) {
    return reportError('delete-where', e);
  }
}

export const clearHelp = `Usage: ctxd clear --level N [--session NAME] [--yes]

Deletes every context of a level (of one session for L1 and L2). Asks for
confirmation on a terminal unless --yes is given; without a terminal, --yes is required.

${CONNECTION_HELP}`;

export async function clear(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, { level: { type: 'string' }, session: { type: 'string' }, yes: { type: 'boolean', short: 'y' } }, false);
    if (values.help) return showHelp(clearHelp);
    if (!values.level) throw new UsageError('--level is required');
    const body = { level: level(values.level), ...(values.session && { session: values.session }) };
    const what = `every level ${body.level} context${values.session ? ` of session ${values.session}` : body.level === 3 ? ' of the tenant' : ' of session default'}`;
    if (!(await confirm(what, values.yes))) return EXIT.failed;
    return await withClient('clear', values, env, async (c) => {
      const r = await c.clear(body);
      print(values.json, r, () => `deleted ${r.deleted} contexts`);
    });
  } catch (e) {
    return reportError('clear', e);
  }
}

export const storeBatchHelp = `Usage: ctxd store-batch [flags] [FILE]   (no FILE or -: standard input)

Stores many contexts, ${BATCH_ITEMS} per request, with a progress bar on standard error.
Each line is a context: a JSON object with at least "text" (and any store field:
level, session, agent, tags, metadata, ttl_s), or plain text.

  --level N            level of lines that name none (default 3)
  --session NAME       session of lines that name none

${CONNECTION_HELP}`;


export async function storeBatch(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parse(argv, { level: { type: 'string' }, session: { type: 'string' } });
    if (values.help) return showHelp(storeBatchHelp);
    if (positionals.length > 1) throw new UsageError('give at most one file');
    const file = positionals[0] ?? '-';
    const lines = readFileSync(file === '-' ? 0 : file, 'utf8').split('\n').map((text, i) => ({ text, number: i + 1 })).filter((l) => l.text.trim().length > 0);
    const defaults = { level: level(values.level, 3), ...(values.session && { session: values.session }) };
    const items = lines.map(({ text: line, number }): StoreRequest => {
      if (!line.trimStart().startsWith('{')) return { ...defaults, text: line };
      let item: unknown;
      try {
        item = JSON.parse(line);
      } catch (e) {
        throw new UsageError(`line ${number}: not JSON: ${(e as Error).message}`);
      }
      if (!item || typeof item !== 'object' || Array.isArray(item) || typeof (item as { text?: unknown }).text !== 'string') {
        throw new UsageError(`line ${number}: a JSON line needs a "text" string`);
      }
      // The daemon checks every field of every item against the store schema; a bad one is answered with its own error.
      return { ...defaults, ...(item as StoreRequest) };
    });
    let refused = 0;
    const code = await withClient('store-batch', values, env, async (c) => {
      const results: Array<OpAnswer<'store_batch'>['results'][number]> = [];
      for (let at = 0; at < items.length; at += BATCH_ITEMS) {
        const r = await c.storeBatch(items.slice(at, at + BATCH_ITEMS));
        results.push(...r.results);
        progress(results.length, items.length);
      }
      progressDone(items.length);
      const failed = results.flatMap((r, i) => ('error' in r ? [{ line: lines[i]!.number, error: r.error }] : []));
      refused = failed.length;
      print(values.json, { results }, () =>
        [
          `stored ${results.length - failed.length} of ${items.length} (${results.filter((r) => 'deduplicated' in r && r.deduplicated).length} deduplicated)`,
          ...failed.map((f) => `line ${f.line}: ${f.error.code}: ${f.error.message}`),
        ].join('\n'),
      );
    });
    // Some items refused (each named above): the daemon answered with errors.
    return code === EXIT.ok && refused > 0 ? EXIT.failed : code;
  } catch (e) {
    return reportError('store-batch', e);
  }
}

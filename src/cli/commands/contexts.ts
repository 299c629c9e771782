/** `ctxd store`, `query`, `get`, `delete`, `stats`: the context ops from a terminal. */
import { readFileSync } from 'node:fs';
import type { ContextAnswer, RequestOptions } from '../../client/index.ts';
import type { CtxdClient } from '../../client/client.ts';
import { CONNECTION_HELP, showHelp, UsageError, parse, print, reportError, withClient, type Env } from '../common.ts';

export type Level = ContextAnswer['level'];

export function level(value: string): Level;
export function level(value: string | undefined, fallback: Level): Level;
export function level(value: string | undefined, fallback?: Level): Level | undefined;
export function level(value: string | undefined, fallback?: Level): Level | undefined {
  if (value === undefined) return fallback;
  // "L3" as well as "3": the levels are called L1 to L3 everywhere in the docs.
  const digit = /^[lL]?([123])$/.exec(value)?.[1];
  if (digit === undefined) throw new UsageError(`--level must be 1, 2 or 3 (or L1, L2, L3), got ${JSON.stringify(value)}`);
  return Number(digit) as Level;
}

export function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** `k=v` pairs; values that parse as JSON (numbers, true, null) keep their type. */
export function metadata(pairs: string[] | undefined): Record<string, unknown> | undefined {
  if (!pairs?.length) return undefined;
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta expects KEY=VALUE, got ${JSON.stringify(p)}`);
    const raw = p.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[p.slice(0, eq)] = value;
  }
  return out;
}

function oneText(positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`give the ${what} as an argument, or - to read it from standard input`);
  return positionals.length === 1 && positionals[0] === '-' ? readFileSync(0, 'utf8') : positionals.join(' ');
}

export function describe(x: ContextAnswer): string {
  const when = new Date(x.ts).toISOString();
  return `${x.id}  L${x.level}  ${x.tokens} tok  ${when}  session=${x.session}${x.agent ? ` agent=${x.agent}` : ''}${x.tags.length ? ` tags=${x.tags.join(',')}` : ''}\n  ${x.text.replaceAll('\n', '\n  ')}`;
}

export const storeHelp = `Usage: ctxd store [flags] TEXT...   (or - to read TEXT from standard input)

Stores a context. Prints its id (and whether it deduplicated an existing one).

  --level N            1 (immediate), 2 (short-term) or 3 (long-term, default); L1..L3 also read
  --session NAME       session of an L1/L2 context (default "default")
  --agent NAME         the agent that learned it
  --tag TAG            a tag (repeatable)
  --meta KEY=VALUE     a metadata entry (repeatable; JSON values keep their type)
  --ttl SECONDS        time to live

${CONNECTION_HELP}`;

export async function store(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parse(argv, {
      level: { type: 'string' }, session: { type: 'string' }, agent: { type: 'string' },
      tag: { type: 'string', multiple: true }, meta: { type: 'string', multiple: true }, ttl: { type: 'string' },
    });
    if (values.help) return showHelp(storeHelp);
    const body = {
      text: oneText(positionals, 'text'),
      level: level(values.level, 3),
      ...(values.session && { session: values.session }),
      ...(values.agent && { agent: values.agent }),
      ...(values.tag && { tags: values.tag }),
      ...(metadata(values.meta) && { metadata: metadata(values.meta) }),
      ...(values.ttl && { ttl_s: positiveInt(values.ttl, '--ttl') }),
    };
    return await withClient('store', values, env, async (c) => {
      const r = await c.store(body);
      print(values.json, r, () => `${r.deduplicated ? 'deduplicated into' : 'stored'} ${r.id} (level ${r.level}, ${r.tokens} tokens)`);
    });
  } catch (e) {
    return reportError('store', e);
  }
}

export const queryHelp = `Usage: ctxd query [flags] QUERY...

Retrieves the most relevant contexts that fit a token budget, best first.

  --max-tokens N       the budget (default: the daemon's retrieval.max_tokens)
  --level N            search only this level (repeatable)
  --session NAME       whose L1/L2 to search (default "default")
  --agent NAME         only contexts of this agent
  --tag TAG            only contexts with any of these tags (repeatable)
  --min-score X        drop contexts scoring below X (0..1)

${CONNECTION_HELP}`;

export async function query(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parse(argv, {
      'max-tokens': { type: 'string' }, level: { type: 'string', multiple: true }, session: { type: 'string' },
      agent: { type: 'string' }, tag: { type: 'string', multiple: true }, 'min-score': { type: 'string' },
    });
    if (values.help) return showHelp(queryHelp);
    const minScore = values['min-score'] === undefined ? undefined : Number(values['min-score']);
    if (minScore !== undefined && !(minScore >= 0 && minScore <= 1)) throw new UsageError('--min-score must be a number from 0 to 1');
    const body = {
      query: oneText(positionals, 'query'),
      ...(values['max-tokens'] && { max_tokens: positiveInt(values['max-tokens'], '--max-tokens') }),
      ...(values.level && { levels: values.level.map((l) => level(l)) }),
      ...(values.session && { session: values.session }),
      ...(values.agent && { agent: values.agent }),
      ...(values.tag && { tags_any: values.tag }),
      ...(minScore !== undefined && { min_score: minScore }),
    };
    return await withClient('query', values, env, async (c) => {
      const r = await c.retrieve(body);
      print(values.json, r, () => {
        const lines = r.contexts.map((x) => `[${x.score.toFixed(3)}] ${describe(x)}`);
        const receipt = Object.entries(r.levels).map(([l, s]) => `L${l} ${s.used}/${s.allocated} tok, ${s.omitted} omitted`).join('; ');
        return [...lines, `${r.contexts.length} contexts, ${r.total_tokens} tokens (${receipt}); set ${r.set_id}; ${r.took_ms} ms`].join('\n');
      });
    });
  } catch (e) {
    return reportError('query', e);
  }
}

/** A command that takes exactly one context id and sends one op with it. */
function byId<A>(command: string, send: (c: CtxdClient, id: string, opts?: RequestOptions) => Promise<A>, help: string, human: (r: A, id: string) => string) {
  return async (argv: string[], env: Env): Promise<number> => {
    try {
      const { values, positionals } = parse(argv, {});
      if (values.help) return showHelp(help);
      if (positionals.length !== 1) throw new UsageError('give exactly one context id');
      const id = positionals[0]!;
      return await withClient(command, values, env, async (c) => {
        const r = await send(c, id);
        print(values.json, r, () => human(r, id));
      });
    } catch (e) {
      return reportError(command, e);
    }
  };
}

export const getHelp = `Usage: ctxd get [flags] ID\n\nPrints one context.\n\n${CONNECTION_HELP}`;

export const get = byId('get', (c, id) => c.get(id), getHelp, (r) =>
  `${describe(r)}\n  access_count=${r.access_count} version=${r.version}${r.expires_at ? ` expires=${new Date(r.expires_at).toISOString()}` : ''} metadata=${JSON.stringify(r.metadata)}`);

export const deleteHelp = `Usage: ctxd delete [flags] ID\n\nDeletes one context.\n\n${CONNECTION_HELP}`;

export const del = byId('delete', (c, id) => c.delete(id), deleteHelp, (_r, id) => `deleted ${id}`);

export const statsHelp = `Usage: ctxd stats [flags]\n\nCounts of live contexts per level, text bytes and sessions of your tenant.\n\n${CONNECTION_HELP}`;

export async function stats(argv: string[], env: Env): Promise<number> {
  try {
    const { values } = parse(argv, {}, false);
    if (values.help) return showHelp(statsHelp);
    return await withClient('stats', values, env, async (c) => {
      const r = await c.stats();
      print(values.json, r, () => `tenant ${r.tenant}: L1 ${r.levels['1']}, L2 ${r.levels['2']}, L3 ${r.levels['3']} (${r.total} contexts, ${r.text_bytes} bytes of text, ${r.sessions} sessions)`);
    });
  } catch (e) {
    return reportError('stats', e);
  }
}

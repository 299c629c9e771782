/**
 * `store` and `store_batch`: embed and count tokens (in the worker pool when
 * large), then per scope, under that scope's lock: deduplicate against the
 * store and the batch itself, spill the oldest L1 contexts to L2 when a
 * session's L1 is full, and commit everything of the scope in one group.
 */
import { NO_METADATA, NO_TAGS, tagsAndMetadataFit, type ContextDoc, type ContextMeta, type ContextRecord, type Level, type RecordPatch, type SearchHit } from '../domain/context.ts';
import { expiryFor, scopeKey, type EngineDeps } from './engine-deps.ts';
import { newContextId } from './ids.ts';
import { sameKeyTokens } from '../domain/lexical.ts';
import type { Analysis } from './text/text-analyzer.ts';
import { DEFAULT_SESSION, type StoreInput, type StoreResult } from './types.ts';

/** A big batch must not hold the event loop: the per-item loops yield a turn after this many items or bytes of text. */
const YIELD_EVERY = 32;
const YIELD_BYTES = 32 * 1024;
/**
 * A batch's texts go to the text analyzer (token counts, term hashes, vectors) in requests of about this many
 * characters, a turn apart: handing 2 MB of text to a worker thread in one message holds the loop ~20 ms.
 * Well above workers.offload_min_chars' default, so each request is still worked off the event loop.
 */
const ANALYZE_CHUNK_CHARS = 128 * 1024;
/** Texts of dedup candidates are read in chunks of this many ids, a turn apart. */
const GET_CHUNK = 256;
/** Nearest neighbours at least this similar are read to see whether they are the same text (an exact duplicate). */
const EXACT_LOOKUP_SIMILARITY = 0.8;
/** Longer texts are merged only with an identical one (no case or spacing folding, no near-duplicates). */
const NEAR_DUP_MAX_CHARS = 8192;

interface Item {
  readonly index: number;
  readonly input: StoreInput;
  readonly analysis: Analysis;
}

export async function storeContexts(deps: EngineDeps, tenant: string, inputs: readonly StoreInput[]): Promise<StoreResult[]> {
  let bytes = 0;
  for (const i of inputs) bytes += Buffer.byteLength(i.text);
  const release = deps.quotas.reserve(tenant, inputs.length, bytes);
  try {
    return await storeWithinQuota(deps, tenant, inputs);
  } finally {
    release();
  }
}

async function storeWithinQuota(deps: EngineDeps, tenant: string, inputs: readonly StoreInput[]): Promise<StoreResult[]> {
  const analyses = await analyzeSliced(deps, inputs.map((i) => i.text));
  const scopes = new Map<string, Item[]>();
  inputs.forEach((input, index) => {
    const key = scopeKey(tenant, input.level, input.session ?? DEFAULT_SESSION);
    let items = scopes.get(key);
    if (!items) scopes.set(key, (items = []));
    items.push({ index, input, analysis: analyses[index]! });
  });
  const results = new Array<StoreResult>(inputs.length);
  // Nearest stored neighbours first, outside the locks and batched with concurrent requests (nearest-batcher.ts);
  // then each scope decides under its lock and hands back the commit to wait for, outside the lock.
  const decided = await Promise.all(
    [...scopes].map(async ([key, items]) => {
      const nearest = await nearestStored(deps, tenant, key, items);
      return deps.locks.run(key, () => storeScope(deps, tenant, key, items, nearest, results));
    }),
  );
  await Promise.all(decided.map((d) => d.committed));
  for (const r of results) if (r.deduplicated) deps.counters.dedupHits++;
  return results;
}

/**
 * deps.text.analyze over the texts in requests of ANALYZE_CHUNK_CHARS, posted a turn apart and worked
 * concurrently; the analyses come back in order, and the first failure fails the whole (as one request would).
 */
async function analyzeSliced(deps: EngineDeps, texts: readonly string[]): Promise<Analysis[]> {
  const chunks: string[][] = [[]];
  let chars = 0;
  for (const t of texts) {
    if (chars >= ANALYZE_CHUNK_CHARS) {
      chunks.push([]);
      chars = 0;
    }
    chunks[chunks.length - 1]!.push(t);
    chars += t.length;
  }
  if (chunks.length === 1) return deps.text.analyze(texts);
  const parts: Promise<Analysis[]>[] = [];
  let failed = false;
  for (const [n, chunk] of chunks.entries()) {
    if (n > 0) await nextTurn();
    // Once a part failed the batch fails: the rest is not sent.
    if (failed) break;
    const part = deps.text.analyze(chunk);
    // Handled here and rethrown by Promise.all below: a part failing while later parts are still being posted is no unhandled rejection.
    part.catch(() => (failed = true));
    parts.push(part);
  }
  return (await Promise.all(parts)).flat();
}

function normalizedText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** What identical texts share: the normalised text, or for a long text the text itself (NFKC can expand a text 18-fold). */
function dedupKey(text: string): string {
  return text.length > NEAR_DUP_MAX_CHARS ? `\u0000${text}` : normalizedText(text);
}

function mergeTags(a: readonly string[], b: readonly string[] | undefined): readonly string[] {
  return b && b.length > 0 ? [...new Set([...a, ...b])] : a;
}

/**
 * Decides and submits the writes of one scope. Resolves, releasing the lock, as soon as the writes
 * are submitted; the commit to wait for is wrapped, since an async function returning a bare
 * promise would resolve only when that promise does and hold the lock through the fsync.
 */
/** Each item's nearest live neighbour in its scope (none when dedup is off: threshold above 1). */
function nearestStored(deps: EngineDeps, tenant: string, scope: string, items: readonly Item[]): Promise<SearchHit[][]> {
  if (deps.config.engine.dedup_threshold > 1) return Promise.resolve([]);
  const { level, session } = items[0]!.input;
  const filter = { levels: [level], aliveAt: deps.now(), ...(level === 3 ? {} : { session: session ?? DEFAULT_SESSION }) };
  return deps.nearest.nearest(scope, tenant, filter, items.map((i) => i.analysis.vector));
}

async function storeScope(deps: EngineDeps, tenant: string, scope: string, items: Item[], nearest: readonly SearchHit[][], results: StoreResult[]): Promise<{ committed: Promise<void> }> {
  const { store, config } = deps;
  const level: Level = items[0]!.input.level;
  const session = items[0]!.input.session ?? DEFAULT_SESSION;
  const now = deps.now();
  const fresh: ContextRecord[] = [];
  const refreshes = new Map<string, { meta: ContextMeta; patch: RecordPatch }>();
  const batchTexts = new Map<string, ContextRecord>();
  /** Each fresh record's dedup key, computed once (normalising 1,000 texts of 2 KB is ~0.2 s). */
  const keyOf = new Map<string, string>();
  const awaitOthers: Promise<void>[] = [];

  // A neighbour found before the lock may have gone since: mergeableNeighbours reads it again.
  const mergeable = await mergeableNeighbours(deps, tenant, items, nearest);
  const slicer = new Slicer();
  for (const [n, { index, input, analysis }] of items.entries()) {
    // A big batch must not hold the event loop: let other connections' I/O in now and then.
    if (slicer.due(input.text.length)) await nextTurn();
    const best = mergeable[n];
    if (best) {
      // Refresh the existing context: new recency and expiry, tags and metadata merged in.
      const prior = refreshes.get(best.meta.id);
      const base = prior?.meta ?? best.meta;
      const tags = mergeTags(prior?.patch.tags ?? base.tags, input.tags);
      const metadata = { ...(prior?.patch.metadata ?? base.metadata), ...input.metadata };
      // A merge past the bounds of one context would not load again: store a new context instead.
      if (tagsAndMetadataFit(tags, metadata, config.engine.max_metadata_bytes)) {
        // The later of the two (null: never): a refresh never shortens a context's life, and a store without ttl_s into
        // an expiring L1 or L3 context must not be acknowledged and then expire (PROTOCOL.md §7.4).
        const held = prior?.patch.expiresAt !== undefined ? prior.patch.expiresAt : base.expiresAt;
        const expiresAt = laterExpiry(expiryFor(level, input.ttl_s, now, config.engine.l2_ttl_s), held);
        refreshes.set(best.meta.id, { meta: base, patch: { ts: now, expiresAt, tags, metadata } });
        results[index] = { id: best.meta.id, level, tokens: best.meta.tokens, deduplicated: true };
        continue;
      }
    }
    // Within one batch only identical texts are merged (an O(1) check); near-duplicates are
    // caught against what is already stored, or being stored by a concurrent request.
    const normalized = dedupKey(input.text);
    const twin = batchTexts.get(normalized);
    if (twin) {
      results[index] = { id: twin.id, level: twin.level, tokens: twin.tokens, deduplicated: true };
      continue;
    }
    const inFlight = deps.pending.find(scope, normalized);
    if (inFlight) {
      results[index] = { id: inFlight.record.id, level: inFlight.record.level, tokens: inFlight.record.tokens, deduplicated: true };
      awaitOthers.push(inFlight.committed);
      continue;
    }
    const record: ContextRecord = {
      id: newContextId(now),
      tenant,
      level,
      // Its own session: an L3 scope holds items of many sessions, and L3 keeps it as provenance.
      session: input.session ?? DEFAULT_SESSION,
      agent: input.agent ?? null,
      text: input.text,
      tags: input.tags?.length ? [...new Set(input.tags)] : NO_TAGS,
      metadata: input.metadata && Object.keys(input.metadata).length ? input.metadata : NO_METADATA,
      tokens: analysis.tokens,
      createdTs: now,
      ts: now,
      expiresAt: expiryFor(level, input.ttl_s, now, config.engine.l2_ttl_s),
      accessCount: 0,
      version: 1,
      vector: analysis.vector,
      terms: analysis.terms,
    };
    fresh.push(record);
    batchTexts.set(normalized, record);
    keyOf.set(record.id, normalized);
    results[index] = { id: record.id, level, tokens: record.tokens, deduplicated: false };
  }

  const spills = new Set(level === 1 ? await planSpill(deps, tenant, session, fresh, refreshes, deps.pending.count(scope), now) : []);
  // All writes of the scope are submitted in one turn, so they commit in one group.
  const writes: Promise<unknown>[] = [];
  const landed = fresh.map((r) => (spills.has(r.id) ? { ...r, level: 2 as Level, expiresAt: r.expiresAt ?? now + config.engine.l2_ttl_s * 1000 } : r));
  if (landed.length > 0) writes.push(store.upsert(landed));
  for (const [id, { patch }] of refreshes) writes.push(store.patch(tenant, id, patch));
  const freshIds = new Set(fresh.map((r) => r.id));
  for (const id of spills) {
    if (!freshIds.has(id)) writes.push(store.patch(tenant, id, { level: 2, expiresAt: now + config.engine.l2_ttl_s * 1000 }));
  }
  for (const item of items) {
    const r = results[item.index]!;
    if (spills.has(r.id)) results[item.index] = { ...r, level: 2 };
  }
  const committed = Promise.all(writes).then(() => undefined);
  // Stores of the same text decided meanwhile answer with these records' ids: they wait for this commit and fail with
  // it (PROTOCOL.md §7.4: never acknowledged unless committed). Handled here too, so a failure none waits for is not
  // an unhandled rejection.
  committed.catch(() => undefined);
  const mine = landed.filter((r) => r.level === level).map((record) => ({ record, normalized: keyOf.get(record.id)!, committed }));
  deps.pending.add(scope, mine);
  const settled = committed.finally(() => deps.pending.remove(scope, mine)).then(() => Promise.all(awaitOthers)).then(() => undefined);
  // Awaited with the other scopes' (storeWithinQuota); if one of those decisions throws first, none awaits this one.
  settled.catch(() => undefined);
  return { committed: settled };
}

/**
 * The dedup rule (README "Dedup"): an item merges into its nearest stored
 * neighbour when their normalised texts are equal, or when the neighbour is
 * at least dedup_threshold similar AND both texts have the same key tokens
 * (numbers, identifiers, names, dates, negations: src/domain/lexical.ts), so
 * "ticket ABC-1234" never swallows "ticket ABC-1235". Texts over
 * NEAR_DUP_MAX_CHARS merge only when identical.
 */
async function mergeableNeighbours(deps: EngineDeps, tenant: string, items: readonly Item[], nearest: readonly SearchHit[][]): Promise<Array<SearchHit | undefined>> {
  const threshold = deps.config.engine.dedup_threshold;
  if (threshold > 1) return items.map(() => undefined);
  // Case and spacing move a vector a little: an exact duplicate is looked for a bit below the threshold.
  const close = items.map((_, n) => nearest[n]?.[0]).map((h) => (h && h.similarity >= Math.min(threshold, EXACT_LOOKUP_SIMILARITY) ? h : undefined));
  const ids = [...new Set(close.filter((h): h is SearchHit => h !== undefined).map((h) => h.meta.id))];
  if (ids.length === 0) return close;
  // In chunks, a turn apart: a batch of 1,000 duplicates reads 1,000 stored texts. Read under the scope's lock, they
  // are also what a refresh merges into: the search's copy may predate an update that committed since.
  const stored = new Map<string, ContextDoc>();
  for (let at = 0; at < ids.length; at += GET_CHUNK) {
    if (at > 0) await nextTurn();
    for (const d of await deps.store.get(tenant, ids.slice(at, at + GET_CHUNK))) stored.set(d.id, d);
  }
  const out = new Array<SearchHit | undefined>(items.length);
  const slicer = new Slicer();
  for (const [n, h] of close.entries()) {
    if (!h) continue;
    const doc = stored.get(h.meta.id);
    if (doc === undefined) continue; // deleted meanwhile
    const text = items[n]!.input.text;
    // Normalising and comparing key tokens of two texts per item: yield now and then, as the decision loop does.
    if (slicer.due(text.length + doc.text.length)) await nextTurn();
    const { text: storedText, ...meta } = doc;
    out[n] = mergeableInto(deps, threshold, text, storedText, { ...h, meta });
  }
  return out;
}

function mergeableInto(deps: EngineDeps, threshold: number, text: string, stored: string, h: SearchHit): SearchHit | undefined {
  if (text === stored) return h;
  // Long texts merge only when identical: comparing their words here would hold the event loop.
  if (text.length > NEAR_DUP_MAX_CHARS || stored.length > NEAR_DUP_MAX_CHARS) return undefined;
  if (normalizedText(text) === normalizedText(stored)) return h;
  if (h.similarity < threshold) return undefined;
  if (sameKeyTokens(text, stored)) return h;
  deps.counters.dedupKeyMismatches++;
  return undefined;
}

/** The later of two expiries, null meaning never. */
function laterExpiry(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

function nextTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Counts a loop's work: due (the caller yields a turn of the event loop, so
 * other connections' I/O runs) once YIELD_EVERY items or YIELD_BYTES of text
 * were handled since the last yield. Never due before the first item.
 */
class Slicer {
  private items = 0;
  private bytes = 0;

  due(textLength: number): boolean {
    const due = this.items >= YIELD_EVERY || this.bytes >= YIELD_BYTES;
    if (due) this.items = this.bytes = 0;
    this.items++;
    this.bytes += textLength;
    return due;
  }
}

/**
 * Ids to move from the session's L1 to L2 so that it holds at most
 * l1_max_items: the oldest by recency, existing or new. Never dropped.
 */
async function planSpill(
  deps: EngineDeps,
  tenant: string,
  session: string,
  fresh: readonly ContextRecord[],
  refreshes: ReadonlyMap<string, { patch: RecordPatch }>,
  pendingElsewhere: number,
  now: number,
): Promise<string[]> {
  const max = deps.config.engine.l1_max_items;
  const existing = await deps.store.find(tenant, { levels: [1], session, aliveAt: now }, Number.MAX_SAFE_INTEGER);
  // Records of concurrent stores not yet committed count too; they made room for themselves.
  const overflow = existing.length + pendingElsewhere + fresh.length - max;
  if (overflow <= 0) return [];
  const all = [
    ...existing.map((m) => ({ id: m.id, ts: refreshes.get(m.id)?.patch.ts ?? m.ts })),
    ...fresh.map((r) => ({ id: r.id, ts: r.ts })),
  ];
  // Stable by id (creation order) among equal timestamps.
  all.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1));
  return all.slice(0, overflow).map((x) => x.id);
}

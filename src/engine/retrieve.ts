/**
 * `retrieve`: search the requested levels in parallel (filters inside the
 * search), score, split the token budget across levels with hand-on of unused
 * budget, read the winners' texts, count the access, and hash the result set.
 */
import { createHash } from 'node:crypto';
import type { ContextDoc, Level, RecordFilter, SearchHit } from '../domain/context.ts';
import { DependencyUnavailableError } from '../domain/errors.ts';
import { allocateBudget } from './budget.ts';
import type { EngineDeps } from './engine-deps.ts';
import { fuse, type Relevance } from './relevance.ts';
import { scoreContext, type Scored, type ScoreWeights } from './scoring.ts';
import { DEFAULT_SESSION, type LevelReceipt, type RetrieveInput, type RetrieveResult, type RetrievedContext } from './types.ts';

const ALL_LEVELS: readonly Level[] = [1, 2, 3];

export function scoreWeights(r: EngineDeps['config']['retrieval']): ScoreWeights {
  return {
    similarity: r.weight_similarity,
    recency: r.weight_recency,
    level: r.weight_level,
    frequency: r.weight_frequency,
    levelValues: { 1: r.level_value_l1, 2: r.level_value_l2, 3: r.level_value_l3 },
    halfLifeMs: r.recency_half_life_s * 1000,
    frequencySaturation: r.frequency_saturation,
  };
}

/** The filter of one level: L1 and L2 are the session's, L3 is the tenant's. */
export function levelFilter(level: Level, input: RetrieveInput, now: number): RecordFilter {
  return {
    levels: [level],
    ...(level === 3 ? {} : { session: input.session ?? DEFAULT_SESSION }),
    ...(input.agent !== undefined && { agent: input.agent }),
    ...(input.tags_any !== undefined && { tagsAny: input.tags_any }),
    ...(input.tags_all !== undefined && { tagsAll: input.tags_all }),
    ...(input.where !== undefined && { where: input.where }),
    ...(input.since !== undefined && { since: input.since }),
    ...(input.until !== undefined && { until: input.until }),
    aliveAt: now,
  };
}

type Candidate = SearchHit & Scored & { readonly relevance: Relevance };

/** Bounds on the answer beyond tokens: the server's frame size (PROTOCOL.md §7.5, `omitted`). */
export interface AnswerBound {
  readonly maxBytes: number;
  /** Bytes one context takes in the answer. */
  readonly sizeOf: (c: RetrievedContext) => number;
  /**
   * At least sizeOf(c), and cheap: while the bounds of the contexts taken fit, none is measured (packing each
   * context to measure it was ~8 % of a retrieve's time and a fifth of its garbage).
   */
  readonly sizeBound: (c: RetrievedContext) => number;
}

export async function retrieve(deps: EngineDeps, tenant: string, input: RetrieveInput, bound?: AnswerBound): Promise<RetrieveResult> {
  const started = performance.now();
  const { store, config } = deps;
  const now = deps.now();
  const levels = [...new Set(input.levels ?? ALL_LEVELS)].sort();
  const maxTokens = input.max_tokens ?? config.retrieval.max_tokens;
  const weights = scoreWeights(config.retrieval);
  // Null when the embedder cannot answer: the words alone rank (PROTOCOL.md §7.5 "degraded").
  const query = await deps.text.embedQuery(input.query);
  const degraded = query === null ? ['embedder'] : [];
  if (query === null) deps.counters.degradedRetrieves++;
  const k = config.retrieval.candidates_per_level;
  const minRelevance = input.min_similarity ?? deps.minRelevance;
  const lexicalWeight = config.retrieval.lexical_weight;

  // A remote store that cannot answer: the levels it could search, and L1 from this process's recent turns (§7.5 "degraded").
  let unreachable: DependencyUnavailableError | null = null;
  let searched = 0;
  const perLevel = await Promise.all(
    levels.map(async (level) => {
      const filter = levelFilter(level, input, now);
      let hits: SearchHit[];
      try {
        hits = await store.search(tenant, { vector: query, text: input.query }, filter, k);
        searched++;
      } catch (e) {
        if (!(e instanceof DependencyUnavailableError)) throw e;
        unreachable = e;
        hits = level === 1 && deps.recent ? deps.recent.search(tenant, query, input.query, filter) : [];
        if (hits.length > 0) searched++;
      }
      const scored: Candidate[] = hits.map((h) => {
        const meta = { ...h.meta, accessCount: h.meta.accessCount + deps.access.pendingFor(tenant, h.meta.id) };
        const relevance = fuse(h, lexicalWeight, query !== null);
        return { meta, similarity: h.similarity, lexical: h.lexical, relevance, ...scoreContext(meta, relevance.value, now, weights) };
      });
      const minScore = input.min_score ?? -Infinity;
      const kept = scored.filter((c) => c.relevance.value >= minRelevance && c.score >= minScore);
      // The best by score within the level's candidate count (a search returns dense and lexical bests).
      return kept.sort((a, b) => b.score - a.score).slice(0, k);
    }),
  );

  // Nothing searched and nothing kept: an empty answer would look like "no context"; the caller retries instead.
  if (unreachable !== null && searched === 0) throw unreachable;
  if (unreachable !== null) {
    degraded.push('store');
    deps.counters.degradedRetrieves++;
  }

  const shares: Record<Level, number> = { 1: config.retrieval.share_l1, 2: config.retrieval.share_l2, 3: config.retrieval.share_l3 };
  const allocation = allocateBudget(
    maxTokens,
    levels.map((level, i) => ({ level, share: shares[level], tokens: perLevel[i]!.map((c) => c.meta.tokens) })),
  );

  const chosen: Candidate[] = [];
  const receipts: Partial<Record<Level, { -readonly [K in keyof LevelReceipt]: LevelReceipt[K] }>> = {};
  allocation.forEach((a, i) => {
    for (const t of a.taken) chosen.push(perLevel[i]![t]!);
    receipts[a.level as Level] = { allocated: a.allocated, used: a.used, candidates: a.candidates, omitted: a.omitted };
  });
  chosen.sort((a, b) => b.score - a.score);

  const ids = chosen.map((c) => c.meta.id);
  const records = await readWinners(deps, tenant, ids);
  const contexts: RetrievedContext[] = [];
  let bytes = 0;
  // Bounds add up until one would not fit; from then on, exact sizes (of the contexts already taken too). Either
  // way a context is omitted exactly when its exact size does not fit: a bound that fits means the size does.
  let measured = false;
  for (const c of chosen) {
    const record = records.get(c.meta.id);
    // Deleted between search and read: leave it out rather than return a ghost.
    if (!record) continue;
    // The count shown includes this retrieval.
    const context = { record: { ...record, accessCount: c.meta.accessCount + 1 }, score: c.score, parts: c.parts, relevance: c.relevance };
    if (bound && !measured) {
      const most = bound.sizeBound(context);
      if (bytes + most <= bound.maxBytes) {
        bytes += most;
        contexts.push(context);
        continue;
      }
      measured = true;
      bytes = 0;
      for (const taken of contexts) bytes += bound.sizeOf(taken);
    }
    if (bound) {
      // What does not fit in the answer's bytes is omitted like what does not fit the tokens.
      const size = bound.sizeOf(context);
      if (bytes + size > bound.maxBytes) {
        const receipt = receipts[record.level]!;
        receipt.omitted++;
        receipt.used -= record.tokens;
        continue;
      }
      bytes += size;
    }
    contexts.push(context);
  }
  deps.access.record(tenant, contexts.map((c) => c.record.id));
  const totalTokens = contexts.reduce((s, c) => s + c.record.tokens, 0);
  return {
    contexts,
    totalTokens,
    levels: receipts,
    setId: setIdOf(contexts),
    degraded,
    tookMs: performance.now() - started,
  };
}

/** The winners' texts: from the store, or (when it cannot answer) those of this process's recent turns. */
async function readWinners(deps: EngineDeps, tenant: string, ids: readonly string[]): Promise<Map<string, ContextDoc>> {
  try {
    return new Map((await deps.store.get(tenant, ids)).map((r) => [r.id, r]));
  } catch (e) {
    if (!(e instanceof DependencyUnavailableError) || !deps.recent) throw e;
    return deps.recent.docs(tenant, ids);
  }
}

/** A content hash of the returned set: ids and their versions, in order. */
export function setIdOf(contexts: readonly RetrievedContext[]): string {
  const h = createHash('sha256');
  for (const c of contexts) h.update(`${c.record.id}:${c.record.version}\n`);
  return h.digest('hex').slice(0, 32);
}

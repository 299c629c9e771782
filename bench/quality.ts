/**
 * Retrieval quality (`npm run bench:quality`): the hand-written evaluation set
 * in bench/quality/eval-set.json, stored through the real engine and embedded
 * store (one in-process engine per embedder, a fresh data dir each), then
 * every query searched and ranked by each channel:
 *   - dense alone (cosine), lexical alone (BM25), and the hybrid (the fused
 *     relevance the daemon ranks by; recency, level and frequency are equal
 *     across the set, so the query-dependent part decides the order);
 *   - hit@1, hit@3 and MRR for paraphrase and identifier queries;
 *   - for the floor: the share of unanswerable queries that return nothing
 *     above the embedder's relevance floor, and the share of paraphrase facts
 *     that stay above it.
 * Plus store throughput (engine.store in batches of 64, relaxed durability)
 * and retrieve latency (engine.retrieve, uncached queries) per embedder, and
 * the set's content-word overlap. Writes bench/quality.md.
 *
 * Flags: --embedders=hash,local (default both), --out=FILE.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { lexicalTerms } from '../src/domain/lexical.ts';
import { spaceLabel } from '../src/domain/vector-space.ts';
import { ContextEngine } from '../src/engine/context-engine.ts';
import { fuse } from '../src/engine/relevance.ts';
import { createTextAnalyzer, minRelevanceOf, spaceOf } from '../src/engine/text/registry.ts';
import { BreakerRegistry } from '../src/resilience/breaker.ts';
import { EmbeddedStore } from '../src/store/embedded/embedded-store.ts';
import { fmt, median, table } from './lib/report.ts';

const ROOT = resolve(import.meta.dirname, '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')) as Array<[string, string]>);
const embedders = (args.embedders ?? 'hash,local').split(',') as Array<Config['embedder']['kind']>;
const out = args.out ?? join(ROOT, 'bench', 'quality.md');

interface EvalSet {
  facts: Array<{ id: string; text: string }>;
  paraphrase: Array<{ fact: string; query: string }>;
  identifier_groups: Array<{ texts: Array<{ id: string; text: string }> }>;
  identifier: Array<{ fact: string; query: string }>;
  distractors: string[];
  no_answer: string[];
}
const set = JSON.parse(readFileSync(join(ROOT, 'bench', 'quality', 'eval-set.json'), 'utf8')) as EvalSet;

type Channel = 'dense' | 'lexical' | 'hybrid';
const CHANNELS: readonly Channel[] = ['dense', 'lexical', 'hybrid'];
const TENANT = 'eval';
/** Candidates each query considers: the daemon's default candidates_per_level. */
const K = 100;

interface Scores {
  hit1: number;
  hit3: number;
  mrr: number;
}

function summarise(ranks: number[]): Scores {
  const n = ranks.length;
  return {
    hit1: ranks.filter((r) => r === 1).length / n,
    hit3: ranks.filter((r) => r >= 1 && r <= 3).length / n,
    mrr: ranks.reduce((s, r) => s + (r > 0 ? 1 / r : 0), 0) / n,
  };
}

function overlap(query: string, fact: string): number {
  const q = new Set(lexicalTerms(query));
  const f = new Set(lexicalTerms(fact));
  if (q.size === 0) return 0;
  let shared = 0;
  for (const t of q) if (f.has(t)) shared++;
  return shared / q.size;
}

interface EmbedderResult {
  label: string;
  kind: string;
  floor: number;
  paraphrase: Record<Channel, Scores>;
  identifier: Record<Channel, Scores>;
  /** Unanswerable queries with nothing above the floor (hybrid). */
  noAnswerClean: number;
  /** The same two shares at other floors: what a floor can and cannot separate with this embedder. */
  sweep: Array<{ floor: number; noAnswerClean: number; paraphraseAboveFloor: number }>;
  /** Paraphrase facts ranked first and above the floor (hybrid). */
  paraphraseAboveFloor: number;
  merged: number;
  storePerS: number;
  retrieveP50: number;
  retrieveP99: number;
  stored: number;
}

async function evaluate(kind: Config['embedder']['kind']): Promise<EmbedderResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ctxd-quality-'));
  const flags: Record<string, string> = { 'embedder.kind': kind, 'store.durability': 'relaxed', data_dir: dataDir };
  if (args['lexical-weight']) flags['retrieval.lexical_weight'] = args['lexical-weight'];
  const config = loadConfig({ flags });
  const store = new EmbeddedStore({
    dataDir,
    space: spaceOf(config),
    durability: 'relaxed',
    ann: { threshold: config.store.ann_threshold, connectivity: config.store.ann_connectivity, expansionAdd: config.store.ann_expansion_add, expansionSearch: config.store.ann_expansion_search },
  });
  await store.open();
  const text = await createTextAnalyzer({ config, secrets: { openaiApiKey: process.env[config.embedder.openai.api_key_env] ?? null }, breakers: new BreakerRegistry() });
  const floor = minRelevanceOf(config);
  const engine = new ContextEngine({ store, text, config, minRelevance: floor });
  try {
    // Store everything: facts, identifier texts, distractors (shuffled deterministically, so facts are not all oldest).
    const docs: Array<{ key: string; text: string }> = [
      ...set.facts.map((f) => ({ key: f.id, text: f.text })),
      ...set.identifier_groups.flatMap((g) => g.texts.map((t) => ({ key: t.id, text: t.text }))),
      ...set.distractors.map((d, i) => ({ key: `d${i}`, text: d })),
    ];
    const idOf = new Map<string, string>();
    const started = performance.now();
    for (let at = 0; at < docs.length; at += 64) {
      const chunk = docs.slice(at, at + 64);
      const results = await engine.store(TENANT, chunk.map((d) => ({ text: d.text, level: 3 as const })));
      results.forEach((r, i) => idOf.set(chunk[i]!.key, r.id));
    }
    const storePerS = docs.length / ((performance.now() - started) / 1000);
    const merged = docs.length - new Set(idOf.values()).size;

    const filter = { levels: [3 as const] };
    const rank = async (query: string, target: string | null): Promise<{ ranks: Record<Channel, number>; best: number }> => {
      const vector = await text.embedQuery(query);
      const hits = await store.search(TENANT, { vector, text: query }, filter, K);
      const ranks = {} as Record<Channel, number>;
      let best = 0;
      for (const channel of CHANNELS) {
        const scored = hits.map((h) => {
          const r = fuse(h, config.retrieval.lexical_weight, vector !== null);
          return { id: h.meta.id, value: channel === 'dense' ? r.dense : channel === 'lexical' ? r.lexical : r.value };
        });
        scored.sort((a, b) => b.value - a.value || (a.id < b.id ? -1 : 1));
        const at = target === null ? -1 : scored.findIndex((s) => s.id === idOf.get(target));
        ranks[channel] = at < 0 ? 0 : at + 1;
        if (channel === 'hybrid') best = scored[0]?.value ?? 0;
      }
      return { ranks, best };
    };

    const byChannel = async (queries: Array<{ fact: string; query: string }>) => {
      const ranks: Record<Channel, number[]> = { dense: [], lexical: [], hybrid: [] };
      const firstAt: number[] = [];
      for (const q of queries) {
        const r = await rank(q.query, q.fact);
        for (const c of CHANNELS) ranks[c].push(r.ranks[c]);
        firstAt.push(r.ranks.hybrid === 1 ? r.best : -1);
      }
      return { scores: Object.fromEntries(CHANNELS.map((c) => [c, summarise(ranks[c])])) as Record<Channel, Scores>, firstAt };
    };
    const paraphrase = await byChannel(set.paraphrase);
    const identifier = await byChannel(set.identifier);
    const noAnswerBest: number[] = [];
    for (const q of set.no_answer) noAnswerBest.push((await rank(q, null)).best);
    const shares = (f: number) => ({
      floor: f,
      noAnswerClean: noAnswerBest.filter((b) => b < f).length / noAnswerBest.length,
      paraphraseAboveFloor: paraphrase.firstAt.filter((b) => b >= f).length / paraphrase.firstAt.length,
    });

    // Retrieve latency through the engine, every query new to the cache.
    const latencies: number[] = [];
    for (const [i, q] of set.paraphrase.entries()) {
      const t0 = performance.now();
      await engine.retrieve(TENANT, { query: `${q.query} (${i})`, max_tokens: 2000 });
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    return {
      label: spaceLabel(text.identity),
      kind,
      floor,
      paraphrase: paraphrase.scores,
      identifier: identifier.scores,
      noAnswerClean: shares(floor).noAnswerClean,
      paraphraseAboveFloor: shares(floor).paraphraseAboveFloor,
      sweep: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7].map(shares),
      merged,
      storePerS,
      retrieveP50: median(latencies),
      retrieveP99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!,
      stored: docs.length,
    };
  } finally {
    await engine.flush();
    await store.close();
    await text.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const overlaps = set.paraphrase.map((p) => overlap(p.query, set.facts.find((f) => f.id === p.fact)!.text));
const meanOverlap = overlaps.reduce((a, b) => a + b, 0) / overlaps.length;
const results: EmbedderResult[] = [];
for (const kind of embedders) {
  process.stderr.write(`quality: ${kind}...\n`);
  results.push(await evaluate(kind));
}

const f3 = (x: number) => x.toFixed(3);
const lexicalWeight = args['lexical-weight'] ?? String(loadConfig({}).retrieval.lexical_weight);
const rows = (pick: (r: EmbedderResult) => Record<Channel, Scores>) =>
  results.flatMap((r) => CHANNELS.map((c) => [r.label, c === 'hybrid' ? `**hybrid** (lexical weight ${lexicalWeight})` : `${c} alone`, f3(pick(r)[c].hit1), f3(pick(r)[c].hit3), f3(pick(r)[c].mrr)]));
const report = `# Retrieval quality

Generated by \`npm run bench:quality\` (bench/quality.ts) on ${new Date().toISOString().slice(0, 10)}.

The evaluation set (bench/quality/eval-set.json) was written by hand and committed before any weight or floor was
tuned. It holds:

- ${set.paraphrase.length} fact/query pairs, where each query is a paraphrase;
- ${set.identifier_groups.length} groups of near-identical texts that differ in one identifier, with ${set.identifier.length} look-ups;
- ${set.no_answer.length} queries that nothing in the store answers;
- ${set.distractors.length} distractors.

All ${results[0]?.stored ?? 0} texts are stored in one tenant's L3.

The mean content-word overlap between a paraphrase query and its fact is ${meanOverlap.toFixed(3)}: lexical terms without stop
words, shared ÷ the query's. ${overlaps.filter((o) => o > 0).length} of ${overlaps.length} queries share any content word with their fact.

How to read the rankings:
- Each query is searched once, and its candidates (${K}) are ranked by the dense channel alone, by the lexical channel alone, and by the fused
  relevance the daemon ranks by.
- "Floor" is the embedder's relevance floor.
- "No-answer clean" is the share of unanswerable queries with nothing at or above the floor.
- "Paraphrase first and above floor" is the share of paraphrase queries whose fact ranks first with a relevance at or above the floor.

## Paraphrase queries (by meaning)

${table(['embedder', 'ranking', 'hit@1', 'hit@3', 'MRR'], rows((r) => r.paraphrase))}

## Identifier look-ups (exact tokens among near-identical texts)

${table(['embedder', 'ranking', 'hit@1', 'hit@3', 'MRR'], rows((r) => r.identifier))}

## Floor, dedup, speed

${table(
  ['embedder', 'floor', 'no-answer clean', 'paraphrase first and above floor', 'texts merged by dedup', 'store (texts/s, batches of 64)', 'retrieve p50 / p99 (ms, uncached)'],
  results.map((r) => [r.label, r.floor, f3(r.noAnswerClean), f3(r.paraphraseAboveFloor), r.merged, fmt(r.storePerS, 0), `${fmt(r.retrieveP50)} / ${fmt(r.retrieveP99)}`]),
)}

What a floor separates, per embedder (hybrid relevance): the share of unanswerable queries with nothing at or above
each floor, and the share of paraphrase queries whose fact ranks first at or above it.

${table(
  ['embedder', ...results[0]!.sweep.map((s) => `floor ${s.floor}`)],
  results.map((r) => [r.label, ...r.sweep.map((s) => `${f3(s.noAnswerClean)} / ${f3(s.paraphraseAboveFloor)}`)]),
)}

Store throughput and retrieve latency here are in-process, through the engine and the embedded store (relaxed durability, one machine, shared and noisy).
The daemon's own figures over TCP are in RESULTS.md.
`;
writeFileSync(out, report);
process.stdout.write(report);

/** Evaluates a RecordFilter against a record's metadata; shared by backends that filter in process. */
import type { ContextMeta, RecordFilter } from './context.ts';

/**
 * Tag lists longer than this are looked up through a set made once per list (a request's filter keeps its lists),
 * so a row costs O(its tags), not O(its tags × the list's): 64 tags_any and 64 tags_all against rows of 64 tags
 * made one slice of a scan of 16,384 rows take 1.6 s.
 */
const TAG_SET_MIN = 8;
const tagSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function tagSet(tags: readonly string[]): ReadonlySet<string> {
  let set = tagSets.get(tags);
  if (!set) tagSets.set(tags, (set = new Set(tags)));
  return set;
}

function hasAnyTag(m: ContextMeta, wanted: readonly string[]): boolean {
  if (wanted.length <= TAG_SET_MIN) return wanted.some((t) => m.tags.includes(t));
  const set = tagSet(wanted);
  return m.tags.some((t) => set.has(t));
}

function hasEveryTag(m: ContextMeta, wanted: readonly string[]): boolean {
  if (wanted.length <= TAG_SET_MIN) return wanted.every((t) => m.tags.includes(t));
  const set = tagSet(wanted);
  if (set.size > m.tags.length) return false;
  if (set.size <= TAG_SET_MIN) {
    for (const t of set) if (!m.tags.includes(t)) return false;
    return true;
  }
  let held = 0;
  for (const t of m.tags) if (set.has(t)) held++;
  if (held < set.size) return false;
  // Every write keeps a context's tags distinct, so this is a match; a row some older build stored with a tag twice
  // is checked tag by tag.
  const found = new Set<string>();
  for (const t of m.tags) if (set.has(t)) found.add(t);
  return found.size === set.size;
}

export function matchesFilter(m: ContextMeta, f: RecordFilter): boolean {
  if (f.levels && !f.levels.includes(m.level)) return false;
  if (f.session !== undefined && m.session !== f.session) return false;
  if (f.agent !== undefined && m.agent !== f.agent) return false;
  if (f.since !== undefined && m.ts < f.since) return false;
  if (f.until !== undefined && m.ts > f.until) return false;
  if (f.aliveAt !== undefined && m.expiresAt !== null && m.expiresAt <= f.aliveAt) return false;
  if (f.expiredBy !== undefined && (m.expiresAt === null || m.expiresAt > f.expiredBy)) return false;
  if (f.minAccessCount !== undefined && m.accessCount < f.minAccessCount) return false;
  if (f.tagsAny && f.tagsAny.length > 0 && !hasAnyTag(m, f.tagsAny)) return false;
  if (f.tagsAll && !hasEveryTag(m, f.tagsAll)) return false;
  if (f.where) {
    for (const key in f.where) {
      if (!Object.hasOwn(m.metadata, key) || !sameValue(m.metadata[key], f.where[key])) return false;
    }
  }
  return true;
}

/** Equality of JSON-like values (metadata values may be nested maps or arrays). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

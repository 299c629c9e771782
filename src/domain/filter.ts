/** Evaluates a RecordFilter against a record's metadata; shared by backends that filter in process. */
import type { ContextMeta, RecordFilter } from './context.ts';

export function matchesFilter(m: ContextMeta, f: RecordFilter): boolean {
  if (f.levels && !f.levels.includes(m.level)) return false;
  if (f.session !== undefined && m.session !== f.session) return false;
  if (f.agent !== undefined && m.agent !== f.agent) return false;
  if (f.since !== undefined && m.ts < f.since) return false;
  if (f.until !== undefined && m.ts > f.until) return false;
  if (f.aliveAt !== undefined && m.expiresAt !== null && m.expiresAt <= f.aliveAt) return false;
  if (f.expiredBy !== undefined && (m.expiresAt === null || m.expiresAt > f.expiredBy)) return false;
  if (f.minAccessCount !== undefined && m.accessCount < f.minAccessCount) return false;
  if (f.tagsAny && f.tagsAny.length > 0 && !f.tagsAny.some((t) => m.tags.includes(t))) return false;
  if (f.tagsAll && !f.tagsAll.every((t) => m.tags.includes(t))) return false;
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

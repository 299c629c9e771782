/**
 * The L1 turns this process stored recently, kept in memory so that a
 * retrieve can still answer from a session's latest turns while a remote
 * store cannot be reached (PROTOCOL.md §7.5 "degraded": ["store"]).
 *
 * Write-through: `RecentTurnsStore` wraps the store and sees every write this
 * process makes, after it committed: an L1 record is kept, anything that
 * leaves L1 (spill, promotion, update to another level, delete, clear,
 * import over it) is dropped. Writes made through other replicas are not seen,
 * so a degraded answer may miss their turns, or still show a turn another
 * replica deleted moments before; PRODUCTION.md "Scaling out" says so, and
 * session affinity at the load balancer closes the gap.
 *
 * Bounded by bytes (texts, vectors, metadata), least recently used session
 * first; each session keeps at most its L1 cap.
 */
import { LRUCache } from 'lru-cache';
import { applyPatch, type ContextDoc, type ContextRecord, type RecordFilter, type RecordPatch, type SearchHit } from '../domain/context.ts';
import { matchesFilter } from '../domain/filter.ts';
import { lexicalTerms } from '../domain/lexical.ts';
import { cosine } from '../domain/cosine.ts';

interface Turn {
  readonly doc: ContextDoc;
  readonly vector: Float32Array;
  readonly terms: ReadonlySet<string>;
  readonly bytes: number;
}

/** Fixed cost of one kept turn beyond its text, metadata and vector (objects, map entries). */
const TURN_OVERHEAD_BYTES = 512;

function sessionKey(tenant: string, session: string): string {
  return `${tenant}\u0000${session}`;
}

function turnOf(doc: ContextDoc, vector: Float32Array): Turn {
  const bytes = Buffer.byteLength(doc.text) * 2 + JSON.stringify(doc.metadata).length * 2 + vector.byteLength + TURN_OVERHEAD_BYTES;
  return { doc, vector, terms: new Set(lexicalTerms(doc.text)), bytes };
}

export class RecentTurns {
  /** tenant\0session → id → turn. */
  private readonly sessions: LRUCache<string, Map<string, Turn>>;
  /** id → its session key, to drop a turn by id. */
  private readonly home = new Map<string, string>();
  private readonly perSession: number;

  constructor(maxBytes: number, perSession: number) {
    this.perSession = perSession;
    this.sessions = new LRUCache<string, Map<string, Turn>>({
      maxSize: maxBytes,
      sizeCalculation: (turns) => Math.max(1, [...turns.values()].reduce((s, t) => s + t.bytes, 0)),
      dispose: (turns, key, reason) => {
        // A `set` of the same map (a resize) is not a removal.
        if (reason === 'set') return;
        for (const id of turns.keys()) if (this.home.get(id) === key) this.home.delete(id);
      },
    });
  }

  get size(): number {
    return this.home.size;
  }

  put(record: ContextRecord): void {
    this.drop(record.id);
    const { vector, terms: _terms, ...doc } = record;
    const turn = turnOf(doc, vector);
    const key = sessionKey(record.tenant, record.session);
    const turns = this.sessions.get(key) ?? new Map<string, Turn>();
    turns.set(record.id, turn);
    // The session's oldest turns beyond the L1 cap have spilled to L2 by now.
    while (turns.size > this.perSession) {
      const oldest = [...turns.values()].reduce((a, b) => (a.doc.ts <= b.doc.ts ? a : b));
      turns.delete(oldest.doc.id);
      this.home.delete(oldest.doc.id);
    }
    this.home.set(record.id, key);
    this.sessions.set(key, turns);
    // A session larger than the whole budget is not kept.
    if (!this.sessions.has(key)) for (const id of turns.keys()) if (this.home.get(id) === key) this.home.delete(id);
  }

  /** Applies a committed patch to a kept turn: kept while it stays in L1, dropped otherwise. */
  patched(tenant: string, id: string, patch: RecordPatch): void {
    const key = this.home.get(id);
    const turn = key === undefined ? undefined : this.sessions.peek(key)?.get(id);
    if (!turn || turn.doc.tenant !== tenant) return;
    const meta = applyPatch(turn.doc, patch);
    if (meta.level !== 1) {
      this.drop(id);
      return;
    }
    this.put({ ...meta, text: patch.text ?? turn.doc.text, vector: patch.vector ?? turn.vector });
  }

  drop(id: string): void {
    const key = this.home.get(id);
    if (key === undefined) return;
    this.home.delete(id);
    const turns = this.sessions.peek(key);
    if (!turns) return;
    turns.delete(id);
    if (turns.size === 0) this.sessions.delete(key);
    else this.sessions.set(key, turns);
  }

  dropTenant(tenant: string): void {
    const prefix = `${tenant}\u0000`;
    for (const key of [...this.sessions.keys()]) if (key.startsWith(prefix)) this.sessions.delete(key);
  }

  /**
   * The kept L1 turns of `filter.session` matching `filter`, as search hits
   * (cosine against `vector`; lexical = share of the query's terms present,
   * since a handful of turns gives BM25 no document frequencies to speak of).
   */
  search(tenant: string, vector: Float32Array | null, text: string, filter: RecordFilter): SearchHit[] {
    if (filter.session === undefined) return [];
    const turns = this.sessions.get(sessionKey(tenant, filter.session));
    if (!turns) return [];
    const queryTerms = lexicalTerms(text);
    const hits: SearchHit[] = [];
    for (const t of turns.values()) {
      if (!matchesFilter(t.doc, filter)) continue;
      const shared = queryTerms.filter((q) => t.terms.has(q)).length;
      const { text: _text, ...meta } = t.doc;
      hits.push({ meta, similarity: vector ? cosine(vector, t.vector) : 0, lexical: queryTerms.length === 0 ? 0 : shared / queryTerms.length });
    }
    return hits;
  }

  /** The kept docs among `ids`, by id. */
  docs(tenant: string, ids: readonly string[]): Map<string, ContextDoc> {
    const out = new Map<string, ContextDoc>();
    for (const id of ids) {
      const key = this.home.get(id);
      const turn = key === undefined ? undefined : this.sessions.peek(key)?.get(id);
      if (turn && turn.doc.tenant === tenant) out.set(id, turn.doc);
    }
    return out;
  }
}

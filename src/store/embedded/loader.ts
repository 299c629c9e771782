/**
 * Start-up load with quarantine. Rows stored by older versions may hold what
 * today's rules reject (metadata nested past the depth limit, odd keys), or be
 * damaged (unparseable JSON, a vector of the wrong size). Such a row is left on
 * disk untouched and never enters the index, so nothing serves, filters or GCs
 * it; it is counted and reported. One bad row never stops the load.
 *
 * The store checks only what its own structures need (types, level, vector
 * size); what clients may store is the wire's rule, passed in as `admit`.
 */
import { NO_METADATA, NO_TAGS, type ContextMeta, type Level } from '../../domain/context.ts';
import { blobToVector, type StoredRow } from './sqlite-file.ts';
import type { QuarantineEntry, QuarantineReport } from '../backend.ts';

export type { QuarantineEntry, QuarantineReport };

/** A record as the admit check sees it: tags and metadata as parsed, unchecked. */
export interface AdmitInput {
  readonly id: string;
  readonly tenant: string;
  readonly tags: unknown;
  readonly metadata: unknown;
}

/** Null to admit the record, or the reason to quarantine it. */
export type AdmitCheck = (record: AdmitInput) => string | null;

export const SAMPLE_SIZE = 20;

export interface LoadedRow {
  readonly meta: ContextMeta;
  /** May view the stored blob's buffer: valid until it is copied into the index. */
  readonly vector: Float32Array;
  /** Read only when `terms` were not stored ('' otherwise): they are computed from it (load-terms.ts). */
  readonly text: string;
  readonly textBytes: number;
  /** termHashes(text): as stored, or once computed (load-terms.ts); the index computes them when absent. */
  terms: Uint32Array | undefined;
  /** A row in the clear loaded without stored terms: the store writes the ones computed now (SqliteFile.setTerms). */
  readonly termsToStore: boolean;
}

export class Quarantine {
  private n = 0;
  private readonly first: QuarantineEntry[] = [];

  add(entry: QuarantineEntry): void {
    this.n++;
    if (this.first.length < SAMPLE_SIZE) this.first.push(entry);
  }

  /** Counts a row left out for `error`, and tells `onQuarantine` (whose own failure must not stop a load either). */
  leaveOut(id: string, tenant: string, error: unknown, onQuarantine?: (entry: QuarantineEntry) => void): void {
    const entry = { id, tenant, reason: error instanceof Error ? error.message : String(error) };
    this.add(entry);
    try {
      onQuarantine?.(entry);
    } catch {
      // The entry is counted above.
    }
  }

  /** Takes the report of an earlier load (an index snapshot's: the rows it left out are not read again). */
  restore(report: QuarantineReport): void {
    this.n = report.count;
    this.first.length = 0;
    this.first.push(...report.sample.slice(0, SAMPLE_SIZE));
  }

  get report(): QuarantineReport {
    return { count: this.n, sample: [...this.first] };
  }
}

function parseJson(what: string, json: string): unknown {
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Most distinct strings `Interned` keeps: tenants and sessions repeat, and a million records need not hold a million copies of each. */
const INTERN_MAX = 4096;

/** One copy of each tenant, session and agent name read at load (SQLite, like a snapshot's msgpack, gives a new string per row). */
export class Interned {
  private readonly seen = new Map<string, string>();

  of(s: string): string;
  of(s: string | null): string | null;
  of(s: string | null): string | null {
    if (s === null) return s;
    const known = this.seen.get(s);
    if (known !== undefined) return known;
    if (this.seen.size < INTERN_MAX) this.seen.set(s, s);
    return s;
  }
}

/** The record in `r`, or throws the reason it cannot be loaded. */
function parseRow(r: StoredRow, dims: number, admit: AdmitCheck | undefined, names: Interned): LoadedRow {
  if (r.damage) throw new Error(r.damage);
  const terms = storedTerms(r.terms);
  if (typeof r.id !== 'string' || typeof r.tenant !== 'string' || typeof r.session !== 'string' || (terms === undefined && typeof r.text !== 'string')) {
    throw new Error('id, tenant, session or text is not text');
  }
  if (r.level !== 1 && r.level !== 2 && r.level !== 3) throw new Error(`level ${String(r.level)} is not 1, 2 or 3`);
  if (!(r.vector instanceof Uint8Array) || r.vector.byteLength !== dims * 4) {
    throw new Error(`vector has ${r.vector?.byteLength ?? 0} bytes, expected ${dims * 4}`);
  }
  if (typeof r.tags !== 'string' || typeof r.metadata !== 'string') throw new Error('tags or metadata is not text');
  const tags = r.tags === '[]' ? NO_TAGS : parseJson('tags', r.tags);
  const metadata = r.metadata === '{}' ? NO_METADATA : parseJson('metadata', r.metadata);
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new Error('tags are not a list of strings');
  if (!isPlainObject(metadata)) throw new Error('metadata is not an object');
  const reason = admit?.({ id: r.id, tenant: r.tenant, tags, metadata });
  if (reason) throw new Error(reason);
  const meta: ContextMeta = {
    id: r.id,
    tenant: names.of(r.tenant),
    level: r.level as Level,
    session: names.of(r.session),
    agent: names.of(r.agent),
    tags: tags as string[],
    metadata,
    tokens: r.tokens,
    createdTs: r.created_ts,
    ts: r.ts,
    expiresAt: r.expires_at,
    accessCount: r.access_count,
    version: r.version,
  };
  // The index copies the vector into its partition at once: a view of an aligned blob spares a copy per row.
  const v = r.vector;
  const vector = v.byteOffset % 4 === 0 ? new Float32Array(v.buffer, v.byteOffset, dims) : blobToVector(v);
  if (terms) return { meta, vector, text: '', textBytes: Number(r.text_bytes), terms, termsToStore: false };
  const text = r.text!;
  return { meta, vector, text, textBytes: Buffer.byteLength(text), terms: undefined, termsToStore: r.terms === null && r.fromSealed !== true };
}

/** A stored `terms` blob as term hashes; undefined (the text is hashed instead) when there is none or it is not whole uint32s. */
function storedTerms(blob: Uint8Array | null): Uint32Array | undefined {
  if (!(blob instanceof Uint8Array) || blob.byteLength % 4 !== 0) return undefined;
  return blob.byteOffset % 4 === 0 ? new Uint32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4) : new Uint32Array(blob.slice().buffer);
}

/** The rows that load; every other one goes to `quarantine` and `onQuarantine`. */
export function* admitRows(
  rows: Iterable<StoredRow>,
  dims: number,
  quarantine: Quarantine,
  admit?: AdmitCheck,
  onQuarantine?: (entry: QuarantineEntry) => void,
): IterableIterator<LoadedRow> {
  const names = new Interned();
  for (const r of rows) {
    let loaded: LoadedRow;
    try {
      loaded = parseRow(r, dims, admit, names);
    } catch (e) {
      // Anything at all (a RangeError from a parser, a throwing admit check) quarantines this row only.
      quarantine.leaveOut(String(r.id), String(r.tenant), e, onQuarantine);
      continue;
    }
    yield loaded;
  }
}

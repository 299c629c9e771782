/**
 * Data that moves (PROTOCOL.md §7.11–7.12): export pages a tenant's contexts
 * (or every tenant's) as stored; import writes them back with their ids,
 * versions and times, idempotently by id; purge deletes a tenant.
 *
 * Import restores what an export saw: it does not deduplicate or spill, it
 * keeps vectors of the configured embedder and makes the others again.
 */
import type { ContextDoc, ContextRecord, Level, Metadata, RecordFilter } from '../domain/context.ts';
import { NO_METADATA, NO_TAGS } from '../domain/context.ts';
import { InvalidRequestError } from '../domain/errors.ts';
import { spaceLabel } from '../domain/vector-space.ts';
import type { EngineDeps } from './engine-deps.ts';
import type { ImportWrite } from '../store/vector-store.ts';

export interface ExportInput {
  readonly session?: string;
  readonly level?: Level;
  /** Every tenant's contexts, tenant by tenant (an admin's whole-daemon export). */
  readonly allTenants?: boolean;
  /** `tenant/id` of the last item of the previous page. */
  readonly cursor?: string;
  readonly limit?: number;
  readonly vectors?: boolean;
}

export interface ExportedContext {
  readonly doc: ContextDoc;
  readonly vector?: Float32Array;
}

export interface ExportPage {
  readonly items: ExportedContext[];
  readonly next: string | null;
}

/** The answer's room (PROTOCOL.md §7.11): a page ends before the item that would not fit. */
export interface ExportBound {
  readonly maxBytes: number;
  readonly sizeOf: (item: ExportedContext) => number;
}

/** Records read from the store at once: a page stops reading once its room is full, not after `limit` records. */
const READ_CHUNK = 64;

export const DEFAULT_EXPORT_LIMIT = 100;

/** Cursors name the tenant too, so one cursor format pages through one tenant or all of them. */
export function exportCursor(doc: { tenant: string; id: string }): string {
  return `${doc.tenant}/${doc.id}`;
}

function parseCursor(cursor: string): { tenant: string; id: string } {
  const slash = cursor.indexOf('/');
  if (slash <= 0 || slash === cursor.length - 1) throw new InvalidRequestError('body.cursor', 'body.cursor is not a cursor this op returned');
  return { tenant: cursor.slice(0, slash), id: cursor.slice(slash + 1) };
}

export async function exportPage(deps: EngineDeps, tenant: string, input: ExportInput, bound?: ExportBound): Promise<ExportPage> {
  const limit = input.limit ?? DEFAULT_EXPORT_LIMIT;
  const filter: RecordFilter = {
    ...(input.level !== undefined && { levels: [input.level] }),
    ...(input.session !== undefined && { session: input.session }),
    aliveAt: deps.now(),
  };
  const start = input.cursor === undefined ? null : parseCursor(input.cursor);
  let tenants: string[];
  if (input.allTenants) {
    tenants = (await deps.store.tenants()).sort();
    if (start) tenants = tenants.filter((t) => t >= start.tenant);
  } else {
    if (start && start.tenant !== tenant) throw new InvalidRequestError('body.cursor', 'body.cursor belongs to an export of another tenant');
    tenants = [tenant];
  }
  const items: ExportedContext[] = [];
  let bytes = 0;
  const cut = () => ({ items, next: exportCursor(items.at(-1)!.doc) });
  for (const t of tenants) {
    let after = start && start.tenant === t ? start.id : null;
    while (items.length < limit) {
      const page = await deps.store.scroll(t, filter, after, Math.min(READ_CHUNK, limit - items.length));
      const docs = await deps.store.get(t, page.items.map((m) => m.id));
      const vectors = input.vectors ? await deps.store.vectors(t, docs.map((d) => d.id)) : undefined;
      for (const doc of docs) {
        const pending = deps.access.pendingFor(t, doc.id);
        const counted = pending === 0 ? doc : { ...doc, accessCount: doc.accessCount + pending };
        const vector = vectors?.get(doc.id);
        const item = vector ? { doc: counted, vector } : { doc: counted };
        const size = bound ? bound.sizeOf(item) : 0;
        // The first item always goes: the op starts only with room for one whole context and its vector.
        if (bound && items.length > 0 && bytes + size > bound.maxBytes) return cut();
        bytes += size;
        items.push(item);
      }
      if (page.next === null) break;
      after = page.next;
    }
    if (items.length >= limit) break;
  }
  // A full page may be the last one: the next request then answers an empty page with next null.
  return items.length >= limit ? cut() : { items, next: null };
}

export interface ImportRecord {
  readonly id: string;
  readonly level: Level;
  readonly text: string;
  readonly session: string;
  readonly agent: string | null;
  readonly tags: readonly string[];
  readonly metadata: Metadata;
  readonly ts: number;
  readonly createdTs: number;
  readonly expiresAt: number | null;
  readonly accessCount: number;
  readonly version: number;
  readonly vector?: Float32Array;
}

export type ImportOutcome =
  | { readonly id: string; readonly status: 'inserted' | 'replaced' | 'kept' }
  /** The item alone is refused: its id appears twice in the request, or another tenant holds it. */
  | { readonly id: string; readonly refused: 'duplicate' | 'foreign' };

export interface ImportResult {
  readonly outcomes: ImportOutcome[];
  readonly reembedded: number;
}

function usable(vector: Float32Array | undefined, dims: number): vector is Float32Array {
  return vector !== undefined && vector.length === dims && vector.every(Number.isFinite);
}

/**
 * Writes `items` into `tenant`. An id already stored with the same or a newer
 * version is kept as it is, so re-running an import after a crash completes
 * it; an id held by another tenant is refused for that item alone. The store
 * makes both decisions at commit (VectorStore.importRecords), so concurrent
 * imports and updates of one id cannot overwrite a newer version or another
 * tenant's record.
 */
export async function importRecords(deps: EngineDeps, tenant: string, items: readonly ImportRecord[], vectorSpace: string | undefined): Promise<ImportResult> {
  const outcomes = new Array<ImportOutcome>(items.length);
  const located = await deps.store.locate(items.map((i) => i.id));
  const seen = new Set<string>();
  // A first look skips the work (embedding) for ids already settled; the store decides again at commit.
  const writes: Array<{ index: number; item: ImportRecord; replaces: boolean }> = [];
  items.forEach((item, index) => {
    const at = located.get(item.id);
    if (seen.has(item.id)) {
      outcomes[index] = { id: item.id, refused: 'duplicate' };
    } else if (at && at.tenant !== tenant) {
      outcomes[index] = { id: item.id, refused: 'foreign' };
    } else if (at && at.version >= item.version) {
      outcomes[index] = { id: item.id, status: 'kept' };
    } else {
      writes.push({ index, item, replaces: at !== undefined });
    }
    seen.add(item.id);
  });
  if (writes.length === 0) return { outcomes, reembedded: 0 };

  const dims = deps.text.identity.dims;
  const sameSpace = vectorSpace === spaceLabel(deps.text.identity);
  const toEmbed = writes.filter((w) => !(sameSpace && usable(w.item.vector, dims)));
  let bytes = 0;
  for (const w of writes) if (!w.replaces) bytes += Buffer.byteLength(w.item.text);
  const release = deps.quotas.reserve(tenant, writes.filter((w) => !w.replaces).length, bytes);
  try {
    const [facts, embedded] = await Promise.all([
      deps.text.facts(writes.map((w) => w.item.text)),
      toEmbed.length > 0 ? deps.text.embedTexts(toEmbed.map((w) => w.item.text)) : Promise.resolve([]),
    ]);
    const vectors = new Map(toEmbed.map((w, i) => [w.index, embedded[i]!]));
    const records: ContextRecord[] = writes.map(({ index, item }, i) => ({
      id: item.id,
      tenant,
      level: item.level,
      session: item.session,
      agent: item.agent,
      text: item.text,
      tags: item.tags.length ? [...new Set(item.tags)] : NO_TAGS,
      metadata: Object.keys(item.metadata).length ? item.metadata : NO_METADATA,
      tokens: facts.tokens[i]!,
      terms: facts.terms[i]!,
      createdTs: item.createdTs,
      ts: item.ts,
      expiresAt: item.expiresAt,
      accessCount: item.accessCount,
      version: item.version,
      vector: vectors.get(index) ?? item.vector!,
    }));
    // Counts still pending for these ids leave before the import is submitted: a flush meanwhile would commit them
    // after it, on top of the count its records carry (their export's, pending ones included). Those of ids the
    // import does not write go back.
    const held = deps.access.take(tenant, records.map((r) => r.id));
    let written: ImportWrite[] = [];
    try {
      written = await deps.store.importRecords(records);
    } finally {
      const kept = new Set(records.filter((_, i) => written[i] !== 'inserted' && written[i] !== 'replaced').map((r) => r.id));
      deps.access.giveBack(tenant, new Map([...held].filter(([id]) => kept.has(id))));
    }
    written.forEach((w, i) => {
      const { index, item } = writes[i]!;
      outcomes[index] = w === 'taken' ? { id: item.id, refused: 'foreign' } : { id: item.id, status: w };
    });
  } finally {
    release();
  }
  return { outcomes, reembedded: toEmbed.length };
}

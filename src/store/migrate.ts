/**
 * Copies every context of one store into another (`ctxd migrate`: a data
 * dir into Qdrant and back), through the VectorStore interface only, one
 * batch in memory at a time. Resumable: after each batch the destination has
 * acknowledged, `onBatch` records the cursor (tenant, last id); a run started
 * from that cursor re-sends at most the batch after it, which is harmless,
 * since `importRecords` keeps a stored record of the same or a newer version
 * ("kept") and never takes over another tenant's id ("taken").
 */
import { randomInt } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ContextRecord } from '../domain/context.ts';
import type { ImportWrite, VectorStore } from './vector-store.ts';

export interface MigrateCursor {
  readonly tenant: string;
  /** The last id copied in that tenant; null before its first. */
  readonly after: string | null;
}

export type MigrateCounts = Record<ImportWrite, number>;

export interface MigrateOptions {
  readonly batch: number;
  /** Where a previous run stopped; null to start at the beginning. */
  readonly resume: MigrateCursor | null;
  /** Called after each batch the destination acknowledged. */
  readonly onBatch: (cursor: MigrateCursor, counts: MigrateCounts) => Promise<void>;
}

export function zeroCounts(): MigrateCounts {
  return { inserted: 0, replaced: 0, kept: 0, taken: 0 };
}

/** Contexts the source holds now, in all (the progress total). */
export async function sourceTotal(source: VectorStore): Promise<number> {
  let n = 0;
  for (const t of await source.tenants()) n += await source.count(t, {});
  return n;
}

export async function migrate(source: VectorStore, dest: VectorStore, opts: MigrateOptions, counts: MigrateCounts = zeroCounts()): Promise<MigrateCounts> {
  const tenants = (await source.tenants()).sort();
  for (const tenant of tenants) {
    if (opts.resume && tenant < opts.resume.tenant) continue;
    let after = opts.resume && tenant === opts.resume.tenant ? opts.resume.after : null;
    for (;;) {
      const page = await source.scroll(tenant, {}, after, opts.batch);
      if (page.items.length === 0) break;
      const ids = page.items.map((m) => m.id);
      const [docs, vectors] = await Promise.all([source.get(tenant, ids), source.vectors(tenant, ids)]);
      const records: ContextRecord[] = [];
      for (const doc of docs) {
        const vector = vectors.get(doc.id);
        // Deleted between the page and the read: nothing to copy.
        if (vector) records.push({ ...doc, vector });
      }
      const writes = await dest.importRecords(records);
      for (const w of writes) counts[w]++;
      after = ids[ids.length - 1]!;
      await opts.onBatch({ tenant, after }, counts);
      if (page.next === null) break;
    }
  }
  return counts;
}

export interface Verification {
  readonly tenants: number;
  readonly contexts: number;
  /** Source contexts not found in the same tenant of the destination. */
  readonly missing: number;
  readonly sampled: number;
  /** Sampled contexts whose record or vector differs between the two sides. */
  readonly differing: number;
}

/**
 * Every source id is looked up in the destination (same tenant), and a random
 * sample of `sample` contexts is compared whole: record and vector.
 */
export async function verify(source: VectorStore, dest: VectorStore, sample: number, batch: number): Promise<Verification> {
  let contexts = 0;
  let missing = 0;
  const chosen: Array<{ tenant: string; id: string }> = [];
  const tenants = await source.tenants();
  for (const tenant of tenants) {
    let after: string | null = null;
    for (;;) {
      const page = await source.scroll(tenant, {}, after, batch);
      const ids = page.items.map((m) => m.id);
      const where = await dest.locate(ids);
      for (const id of ids) {
        contexts++;
        if (where.get(id)?.tenant !== tenant) missing++;
        // Reservoir sampling: each context ends in the sample with the same chance.
        if (chosen.length < sample) chosen.push({ tenant, id });
        else if (sample > 0) {
          const j = randomInt(contexts);
          if (j < sample) chosen[j] = { tenant, id };
        }
      }
      if (page.next === null || ids.length === 0) break;
      after = page.next;
    }
  }
  let differing = 0;
  for (const { tenant, id } of chosen) {
    const [[a], [b], va, vb] = await Promise.all([source.get(tenant, [id]), dest.get(tenant, [id]), source.vectors(tenant, [id]), dest.vectors(tenant, [id])]);
    const x = va.get(id);
    const y = vb.get(id);
    if (!a || !b || !isDeepStrictEqual(a, b) || !x || !y || !Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength))) differing++;
  }
  return { tenants: tenants.length, contexts, missing, sampled: chosen.length, differing };
}

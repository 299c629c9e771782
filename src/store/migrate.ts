/**
 * Copies every context of one store into another (`ctxd migrate`: a data dir
 * into Qdrant and back), through the VectorStore interface only. Knows
 * nothing of the CLI: the caller opens both stores (offline: no daemon on
 * either) and says where the resume state is kept.
 *
 * Streaming: tenants in sorted order, each paged with `scroll` in the
 * source's id order; a page's texts (`get`) and vectors (`vectors`) make
 * whole ContextRecords (ids, versions, access counts, times, expiry, level,
 * session, agent, tags, metadata, tokens as stored) written with the
 * destination's `importRecords`. One batch is in memory at a time.
 *
 * Resumable: once the destination has acknowledged a batch, the cursor
 * (tenant, last id) and the counts so far are saved (the CLI's state store
 * writes a temporary file, fsyncs it and renames it over the old one). A run
 * that finds a cursor continues after it; one that finds the copy done only
 * verifies. A crash between the destination's acknowledgement and the save
 * makes the next run send that one batch again, which is harmless:
 * importRecords is idempotent by version (a stored record of the same or a
 * newer version is 'kept', never overwritten; another tenant's id is never
 * taken over). Those records are counted as 'kept' then (the run that wrote
 * them died before saving its counts).
 *
 * Verified: per tenant, every source id is looked up in the destination
 * (`locate`: same tenant, at least the source's version) and the number found
 * must equal the source's `count`; then a random sample, spread over the
 * tenants in proportion to their size, is read from both sides and compared
 * whole (every field of the record, and the vector bit for bit).
 */
import { randomInt } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { ContextDoc, ContextRecord } from '../domain/context.ts';
import type { ImportWrite, VectorStore } from './vector-store.ts';

export interface MigrateCursor {
  readonly tenant: string;
  /** The last id the destination acknowledged in that tenant. */
  readonly after: string;
}

export type MigrateCounts = Record<ImportWrite, number>;

export interface MigrateState {
  /** Which copy this state is of (source, destination, tenant): another copy's state is refused. */
  readonly scope: string;
  /** Where to continue; null before the first batch and once done. */
  readonly cursor: MigrateCursor | null;
  /** Per outcome of importRecords, over every run so far. */
  readonly counts: MigrateCounts;
  /** Every batch acknowledged: a later run only verifies. */
  readonly done: boolean;
}

/** Where the resume state lives. `save` must be atomic: a crash leaves the old state or the new one. */
export interface MigrateStateStore {
  load(): Promise<MigrateState | null>;
  save(state: MigrateState): Promise<void>;
}

/** Nothing was done: the arguments or the state do not fit (the CLI exits 2). */
export class MigrateRefusal extends Error {
  override readonly name = 'MigrateRefusal';
}

export interface MigrateStart {
  readonly tenants: number;
  /** Contexts the source holds in the tenants copied. */
  readonly total: number;
  /** Of them, how many earlier runs already sent (at most `total`). */
  readonly done: number;
  readonly resumeAt: MigrateCursor | null;
  readonly alreadyDone: boolean;
}

export interface MigrateOptions {
  readonly scope: string;
  readonly state: MigrateStateStore;
  /** Contexts per batch (read, written, acknowledged, saved). */
  readonly batch: number;
  /** Only this tenant; every tenant of the source when absent. */
  readonly tenant?: string | null;
  /** Contexts compared whole at the end. */
  readonly sample: number;
  readonly onStart?: (start: MigrateStart) => void;
  /** After each acknowledged batch. */
  readonly onProgress?: (done: number, total: number) => void;
  /** An integer in [0, n), for the sample (crypto's by default). */
  readonly random?: (n: number) => number;
}

export interface TenantCheck {
  readonly tenant: string;
  /** What the source's `count` says it holds. */
  readonly source: number;
  /** Of its ids, those found in the destination under the same tenant at the same or a newer version. */
  readonly present: number;
}

export interface Difference {
  readonly tenant: string;
  readonly id: string;
  /** 'absent', the first field that differs, or 'vector'. */
  readonly what: string;
}

export interface Verification {
  readonly perTenant: TenantCheck[];
  /** Source contexts not present in the destination, over all tenants. */
  readonly missing: number;
  readonly sampled: number;
  readonly differing: number;
  /** The first few differences found in the sample. */
  readonly differences: Difference[];
}

export interface MigrateReport {
  readonly tenants: number;
  readonly contexts: number;
  readonly counts: MigrateCounts;
  /** Records sent to the destination by this run (0 when it only verified). */
  readonly copied: number;
  readonly resumed: boolean;
  readonly alreadyDone: boolean;
  readonly copySeconds: number;
  readonly verification: Verification;
  /** Every id present, the sample equal, and no id another tenant holds. */
  readonly verified: boolean;
}

export function zeroCounts(): MigrateCounts {
  return { inserted: 0, replaced: 0, kept: 0, taken: 0 };
}

function sum(c: MigrateCounts): number {
  return c.inserted + c.replaced + c.kept + c.taken;
}

const DOC_FIELDS = ['id', 'tenant', 'level', 'session', 'agent', 'text', 'tags', 'metadata', 'tokens', 'createdTs', 'ts', 'expiresAt', 'accessCount', 'version'] as const satisfies ReadonlyArray<keyof ContextDoc>;

export async function migrate(source: VectorStore, dest: VectorStore, opts: MigrateOptions): Promise<MigrateReport> {
  const all = (await source.tenants()).sort();
  if (opts.tenant != null && !all.includes(opts.tenant)) throw new MigrateRefusal(`the source holds no contexts of tenant ${opts.tenant}`);
  const tenants = opts.tenant != null ? [opts.tenant] : all;
  const sizes = new Map<string, number>();
  for (const t of tenants) sizes.set(t, await source.count(t, {}));
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);

  const saved = await opts.state.load();
  if (saved && saved.scope !== opts.scope) throw new MigrateRefusal(`the state is of another copy (${saved.scope}), not of ${opts.scope}`);
  const counts = { ...(saved?.counts ?? zeroCounts()) };
  const resumeAt = saved?.done ? null : (saved?.cursor ?? null);
  const alreadyDone = saved?.done ?? false;
  opts.onStart?.({ tenants: tenants.length, total, done: Math.min(total, sum(counts)), resumeAt, alreadyDone });

  const started = performance.now();
  let copied = 0;
  if (!alreadyDone) {
    for (const tenant of tenants) {
      if (resumeAt && tenant < resumeAt.tenant) continue;
      let after = resumeAt && tenant === resumeAt.tenant ? resumeAt.after : null;
      for (;;) {
        const page = await source.scroll(tenant, {}, after, opts.batch);
        if (page.items.length === 0) break;
        const ids = page.items.map((m) => m.id);
        const [docs, vectors] = await Promise.all([source.get(tenant, ids), source.vectors(tenant, ids)]);
        const records: ContextRecord[] = [];
        for (const doc of docs) {
          const vector = vectors.get(doc.id);
          // A row the source cannot read (quarantined now) is left out; verification counts it missing.
          if (vector) records.push({ ...doc, vector });
        }
        const writes = await dest.importRecords(records);
        for (const w of writes) counts[w]++;
        copied += records.length;
        after = ids[ids.length - 1]!;
        await opts.state.save({ scope: opts.scope, cursor: { tenant, after }, counts: { ...counts }, done: false });
        opts.onProgress?.(Math.min(total, sum(counts)), total);
        if (page.next === null) break;
      }
    }
    await opts.state.save({ scope: opts.scope, cursor: null, counts: { ...counts }, done: true });
  }
  const copySeconds = (performance.now() - started) / 1000;

  const verification = await verify(source, dest, sizes, opts.sample, opts.batch, opts.random ?? randomInt);
  return {
    tenants: tenants.length,
    contexts: total,
    counts,
    copied,
    resumed: resumeAt !== null,
    alreadyDone,
    copySeconds,
    verification,
    verified: verification.missing === 0 && verification.differing === 0 && counts.taken === 0,
  };
}

/** Sample sizes per tenant: in proportion to their contexts (largest remainders), at least one each while the sample allows. */
export function quotas(sizes: ReadonlyMap<string, number>, sample: number): Map<string, number> {
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const n = Math.min(sample, total);
  const out = new Map<string, number>();
  if (n === 0) return out;
  const shares = [...sizes].filter(([, s]) => s > 0).map(([t, s]) => ({ t, s, exact: (s * n) / total }));
  for (const x of shares) out.set(x.t, Math.floor(x.exact) || (n >= shares.length ? 1 : 0));
  const given = () => [...out.values()].reduce((a, b) => a + b, 0);
  // The minimum of one may have given too many: taken back from the largest.
  while (given() > n) {
    const [t, q] = [...out].reduce((a, b) => (b[1] > a[1] ? b : a));
    out.set(t, q - 1);
  }
  for (const x of [...shares].sort((a, b) => b.exact - Math.floor(b.exact) - (a.exact - Math.floor(a.exact)))) {
    if (given() >= n) break;
    if (out.get(x.t)! < x.s) out.set(x.t, out.get(x.t)! + 1);
  }
  return out;
}

function sameVector(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The first thing that differs between the two sides' copies of one context, or null when they are equal. */
function differs(a: ContextDoc | undefined, b: ContextDoc | undefined, va: Float32Array | undefined, vb: Float32Array | undefined): string | null {
  if (!a || !va) return 'gone from the source';
  if (!b || !vb) return 'absent';
  if (a.version !== b.version) return `version: ${a.version} in the source, ${b.version} in the destination`;
  for (const f of DOC_FIELDS) if (!isDeepStrictEqual(a[f], b[f])) return f;
  return sameVector(va, vb) ? null : 'vector';
}

export async function verify(source: VectorStore, dest: VectorStore, sizes: ReadonlyMap<string, number>, sample: number, batch: number, random: (n: number) => number = randomInt): Promise<Verification> {
  const want = quotas(sizes, sample);
  const perTenant: TenantCheck[] = [];
  const differences: Difference[] = [];
  let missing = 0;
  let sampled = 0;
  let differing = 0;
  for (const [tenant, size] of sizes) {
    const k = want.get(tenant) ?? 0;
    const chosen: string[] = [];
    let seen = 0;
    let present = 0;
    let after: string | null = null;
    for (;;) {
      const page = await source.scroll(tenant, {}, after, batch);
      if (page.items.length === 0) break;
      const where = await dest.locate(page.items.map((m) => m.id));
      for (const m of page.items) {
        const at = where.get(m.id);
        if (at && at.tenant === tenant && at.version >= m.version) present++;
        else if (differences.length < 10) differences.push({ tenant, id: m.id, what: at && at.tenant !== tenant ? `held by tenant ${at.tenant}` : at ? `older version ${at.version} < ${m.version}` : 'absent' });
        // Reservoir sampling: every context of the tenant has the same chance to be compared.
        seen++;
        if (chosen.length < k) chosen.push(m.id);
        else if (k > 0) {
          const j = random(seen);
          if (j < k) chosen[j] = m.id;
        }
      }
      if (page.next === null) break;
      after = page.next;
    }
    perTenant.push({ tenant, source: size, present });
    missing += Math.max(0, size - present);
    for (let at = 0; at < chosen.length; at += batch) {
      const ids = chosen.slice(at, at + batch);
      const [docsA, docsB, va, vb] = await Promise.all([source.get(tenant, ids), dest.get(tenant, ids), source.vectors(tenant, ids), dest.vectors(tenant, ids)]);
      const a = new Map(docsA.map((d) => [d.id, d]));
      const b = new Map(docsB.map((d) => [d.id, d]));
      for (const id of ids) {
        sampled++;
        const what = differs(a.get(id), b.get(id), va.get(id), vb.get(id));
        if (what === null) continue;
        differing++;
        if (differences.length < 10) differences.push({ tenant, id, what });
      }
    }
  }
  return { perTenant, missing, sampled, differing, differences };
}

/**
 * The default backend: SQLite as system of record, every record's metadata
 * and vector in memory for search (exact for small partitions, HNSW above
 * `ann.threshold`), writes group-committed. One process per data dir
 * (data-dir-lock.ts).
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { applyPatch, type ContextDoc, type ContextMeta, type ContextRecord, type Level, type RecordFilter, type RecordPatch, type SearchHit, type SearchQuery } from '../../domain/context.ts';
import { StoreUnavailableError } from '../../domain/errors.ts';
import { matchesFilter } from '../../domain/filter.ts';
import type { RequestEntry, RequestJournal } from '../request-journal.ts';
import type { ImportWrite, RekeyStep, ScrollPage, StoreHealth, TenantStats, TenantUsage, VectorStore } from '../vector-store.ts';
import { ensureDataDir } from './data-files.ts';
import { DataDirLock } from './data-dir-lock.ts';
import { GRAPH_DIR, readGraphs, removeGraphs, saveGraphs, VECTOR_CHECKS, type GraphIdentity } from './graph-files.ts';
import { GroupCommitter, type ApplySteps } from './group-commit.ts';
import { Quarantine, type AdmitCheck, type QuarantineEntry, type QuarantineReport } from './loader.ts';
import { loadRows, loadSnapshot } from './index-load.ts';
import { ownTerms, type WriteOp } from './write-ops.ts';
import { storeLoadedTerms, type TermsStored } from './terms-backfill.ts';
import { TextCache } from './text-cache.ts';
import { MemoryIndex } from './memory-index.ts';
import { GRAPH_QUANTIZATION, usearchVersion, type AnnOptions } from './ann-graph.ts';
import { SqliteFile, type Durability } from './sqlite-file.ts';
import { newSnapshotToken, SNAPSHOT_FILE, SnapshotReader, writeSnapshot, type SnapshotIdentity } from './index-snapshot.ts';
import { LEXICAL_TERMS_VERSION } from '../../domain/lexical.ts';
import { VERSION } from '../../version.ts';
import { DataKeyError, type DataKeys } from '../encryption/data-keys.ts';
import { Sealer } from '../encryption/sealer.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import type { CompactState } from './sealing.ts';
import { nextSlice } from './slice-queue.ts';
import { spaceLabel, type VectorSpace } from '../../domain/vector-space.ts';

export interface EmbeddedStoreOptions {
  readonly dataDir: string;
  /** The configured embedder's vector space: the store refuses to open on vectors of another (VectorSpaceMismatchError). */
  readonly space: VectorSpace;
  readonly durability: Durability;
  readonly ann: AnnOptions;
  /** Most bytes the database may hold (0 or absent: unlimited); past it writes fail as on a full disk. */
  readonly maxDbBytes?: number;
  /** How often a store whose writes fail for the storage's sake tries a write by itself (default 5 s). */
  readonly probeIntervalMs?: number;
  /** Today's rules for stored tags and metadata (the wire's, passed in by the composition root); rows failing it are quarantined at load. */
  readonly admit?: AdmitCheck;
  /** Called for each row quarantined at load. */
  readonly onQuarantine?: (entry: QuarantineEntry) => void;
  /** Called when the ANN graphs built in the background after the load (or after a partition crossed the threshold) are complete. */
  readonly onGraphsBuilt?: () => void;
  /** Encryption at rest: rows are sealed with the active key (sealed-row.ts); null or absent stores them in the clear. */
  readonly dataKeys?: DataKeys | null;
  /** What became of the saved ANN graphs: loaded at open, saved at close (graph-files.ts). */
  readonly onGraphFiles?: (event: GraphFilesEvent) => void;
  /** What became of the index snapshot: loaded or refused at open, saved at close (index-snapshot.ts). */
  readonly onSnapshot?: (event: SnapshotEvent) => void;
  /** Rows loaded without stored term hashes had them stored after the open (terms-backfill.ts). */
  readonly onTermsStored?: (event: TermsStored) => void;
  /** Memory for texts of recently stored or read contexts (text-cache.ts); 0 or absent: none. Unused with encryption at rest. */
  readonly textCacheBytes?: number;
}

export type GraphFilesEvent =
  /** `ms`: reading, checking and loading the graph files (the rows' load is the 'store open' line's). */
  | { readonly kind: 'loaded'; readonly graphs: number; readonly rowsReused: number; readonly rowsToAdd: number; readonly refused: readonly string[]; readonly ms: number }
  | { readonly kind: 'saving'; readonly graphs: number; readonly rows: number }
  /** `skipped`: graphs not saved because they hold removed entries (graph-files.ts graphSlots), rebuilt at the next start. */
  | { readonly kind: 'saved'; readonly graphs: number; readonly rows: number; readonly skipped: readonly string[]; readonly ms: number }
  | { readonly kind: 'save_failed'; readonly error: string }
  | { readonly kind: 'remove_failed'; readonly error: string }
  | { readonly kind: 'removed'; readonly reason: string };

export type SnapshotEvent =
  /** `ms`: reading the rows into the index (the 'store open' line's time includes it). */
  | { readonly kind: 'loaded'; readonly rows: number; readonly ms: number }
  /** Not used (rows read from SQLite): stale (the database changed since), of another build or space, or damaged. */
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'saved'; readonly rows: number; readonly ms: number }
  /** Not written: the index may differ from the table (a write's outcome is unknown, or the counts differ). */
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'save_failed'; readonly error: string }
  | { readonly kind: 'remove_failed'; readonly error: string }
  | { readonly kind: 'removed'; readonly reason: string };

/** Whether two key documents are the same (active id, ids and bytes): a rekey step with unchanged keys skips their check. */
function sameKeys(a: DataKeys, b: DataKeys): boolean {
  if (a.active !== b.active || a.keys.size !== b.keys.size) return false;
  for (const [id, key] of a.keys) {
    const other = b.keys.get(id);
    if (!other || !Buffer.from(other).equals(Buffer.from(key))) return false;
  }
  return true;
}

const SCROLL_CHUNK = 512;
/**
 * Chunks a scroll reads before it yields a turn of the event loop: a filter that matches nothing reads the whole tenant
 * (~1.7 µs a row), and 64 such `list`s of one agent over 200,000 contexts held every other tenant's answers for 10 s.
 */
export const SCROLL_CHUNKS_PER_TURN = 4;
/** Rows of one upsert entering the index per turn once committed: each slice a few ms (an HNSW insert is ~0.2 ms). */
const APPLY_SLICE = 32;
const USEARCH_VERSION = usearchVersion();

export class EmbeddedStore implements VectorStore, RequestJournal {
  readonly name = 'embedded';
  private readonly opts: EmbeddedStoreOptions;
  private lock: DataDirLock | null = null;
  private file: SqliteFile | null = null;
  private committer: GroupCommitter | null = null;
  private readonly quarantine = new Quarantine();
  private backups = 0;
  private backingUp = false;
  private keys: DataKeys | null;
  /** Rows not under the active key, as of the current rekey pass (null: to be counted). */
  private remaining: number | null = null;
  /** Saved graphs taken at open, and those refused (health). */
  private graphLoad: { graphs: number; refused: readonly string[] } | null = null;
  /** Rows the open read from the index snapshot (health); null when it read SQLite. */
  private snapshotRows: number | null = null;
  readonly index: MemoryIndex;
  readonly texts: TextCache;

  constructor(opts: EmbeddedStoreOptions) {
    this.opts = opts;
    this.keys = opts.dataKeys ?? null;
    this.index = new MemoryIndex(opts.space.dims, opts.ann);
    this.texts = new TextCache(this.keys ? 0 : (opts.textCacheBytes ?? 0));
  }

  get commitStats() {
    return this.committer?.stats;
  }

  /**
   * A row that stopped opening while served (its sealed value was altered on
   * disk): taken out of the index as if it had been quarantined at load, so
   * it fails alone instead of every read that would include it.
   */
  private quarantineNow(tenant: string, id: string, reason: string): void {
    if (!this.index.meta(tenant, id)) return;
    this.index.remove(id);
    this.texts.delete(id);
    this.quarantine.leaveOut(id, tenant, new Error(reason), this.opts.onQuarantine);
  }

  /** Rows left on disk at load because they failed the checks (loader.ts). */
  get quarantined(): QuarantineReport {
    return this.quarantine.report;
  }

  async open(): Promise<void> {
    const { dataDir, durability, space, maxDbBytes = 0 } = this.opts;
    ensureDataDir(dataDir);
    // First, before reading anything: another daemon on this dir would be writing under our index.
    const lock = DataDirLock.acquire(dataDir);
    let file: SqliteFile | null = null;
    let termsToStore: string[] = [];
    let snapshot: SnapshotReader | null = null;
    try {
      const path = join(dataDir, 'ctxd.sqlite');
      // Vectors of two embedders are never compared: it refuses (VectorSpaceMismatchError) until they are re-embedded.
      // Keys that cannot read the file are refused here (DataKeyError), before anything is loaded or written.
      file = new SqliteFile(path, durability, space, { maxDbBytes, sealer: this.keys ? new Sealer(this.keys) : null });
      // Graphs of big partitions are built after the load, in steps between requests (exact SIMD search serves
      // meanwhile; /health says so): a restart listens once the rows are read, not once every graph is built.
      this.index.graphBuild.background = true;
      this.index.graphBuild.onBuilt = this.opts.onGraphsBuilt;
      // Checked before the writer starts; the file's token, which it must carry, was taken as the file opened.
      snapshot = this.openSnapshot(file);
      // Saved graphs serve at once; only what changed since their save is added in the background.
      const graphs = this.adoptSavedGraphs(dataDir, snapshot ? file.snapshotToken : null);
      // The writer thread opens its connection (and scans the file's vector spaces) on another core while the rows
      // load here: the file's schema is settled above, and WAL lets its writes run beside this read.
      const committer = new GroupCommitter({ path, durability, space, maxDbBytes, probeIntervalMs: this.opts.probeIntervalMs, keys: this.keys });
      try {
        const into = { index: this.index, quarantine: this.quarantine, admit: this.opts.admit, onQuarantine: this.opts.onQuarantine };
        if (snapshot) {
          const started = performance.now();
          loadSnapshot(snapshot, into);
          this.snapshotRows = snapshot.rows;
          this.snapshotEvent({ kind: 'loaded', rows: snapshot.rows, ms: Math.round(performance.now() - started) });
        } else {
          termsToStore = loadRows(file, space.dims, into);
        }
        const rowsReused = this.index.adoptionDone();
        if (graphs.found > 0 || graphs.refused.length > 0) {
          this.graphLoad = { graphs: graphs.adopted, refused: graphs.refused };
          this.event({ kind: 'loaded', graphs: graphs.adopted, rowsReused, rowsToAdd: this.index.graphBuild.pending, refused: graphs.refused, ms: graphs.ms });
        }
        await committer.started();
      } catch (e) {
        await committer.close().catch(() => {});
        throw e;
      }
      this.committer = committer;
    } catch (e) {
      snapshot?.close();
      file?.close();
      lock.release();
      throw e;
    }
    this.file = file;
    this.lock = lock;
    if (termsToStore.length > 0) this.storeTerms(termsToStore);
    // Saved graphs with nothing left to add: complete already, as a finished build would report.
    if ((this.graphLoad?.graphs ?? 0) > 0 && this.index.graphBuild.pending === 0 && this.index.graphBuild.halving === 0) this.opts.onGraphsBuilt?.();
  }

  private get snapshotPath(): string {
    return join(this.opts.dataDir, SNAPSHOT_FILE);
  }

  private get snapshotIdentity(): SnapshotIdentity {
    const { space } = this.opts;
    return { build: VERSION, space: spaceLabel(space), dims: space.dims, terms: `${LEXICAL_TERMS_VERSION}-${endianness()}` };
  }

  /**
   * The snapshot the last close wrote, when the database still matches it; null otherwise (refusals reported).
   * The file is removed either way: its token has left the database, so it can never match again.
   */
  private openSnapshot(file: SqliteFile): SnapshotReader | null {
    const path = this.snapshotPath;
    let reader: SnapshotReader | null = null;
    if (!this.keys) {
      try {
        reader = SnapshotReader.open(path, this.snapshotIdentity, file.snapshotToken);
        // A file rebuilt by other means (sqlite3 .dump or .recover) can keep the token and lose rows.
        const rows = reader && file.rowCount();
        if (reader && rows !== reader.rows + reader.quarantine.count) {
          throw new Error(`holds ${reader.rows} rows and ${reader.quarantine.count} quarantined, the database ${rows}`);
        }
      } catch (e) {
        reader?.close();
        reader = null;
        this.snapshotEvent({ kind: 'refused', reason: (e as Error).message });
      }
    }
    const removed = this.keys && existsSync(path);
    try {
      rmSync(path, { force: true });
      rmSync(`${path}.tmp`, { force: true });
      // Snapshots hold vectors, tags and metadata in the clear: an encrypted store keeps none.
      if (removed) this.snapshotEvent({ kind: 'removed', reason: 'encryption at rest is on: the index snapshot holds rows in the clear' });
    } catch (e) {
      this.snapshotEvent({ kind: 'remove_failed', error: (e as Error).message });
    }
    return reader;
  }

  /** Writes the index snapshot, then gives its token to the database; a failure costs the next start a full read, never the close. */
  private saveSnapshot(file: SqliteFile, token: string, diverged: boolean): void {
    const started = performance.now();
    try {
      // The snapshot is the index, trusted as the table at the next start: not written when they may differ.
      const rows = file.rowCount();
      if (diverged || rows !== this.index.size + this.quarantine.report.count) {
        const why = diverged ? 'a write failed after its commit or the writer thread failed' : `the database holds ${rows} rows, the index ${this.index.size} and ${this.quarantine.report.count} quarantined`;
        this.snapshotEvent({ kind: 'skipped', reason: `${why}: the next start reads every row from the database` });
        return;
      }
      writeSnapshot(this.snapshotPath, this.snapshotIdentity, token, this.quarantine.report, this.index.snapshotParts(), this.index.size);
      file.setSnapshotToken(token);
      this.snapshotEvent({ kind: 'saved', rows: this.index.size, ms: Math.round(performance.now() - started) });
    } catch (e) {
      try {
        // Its token may not have reached the database: such a file is refused anyway, but it takes room.
        rmSync(this.snapshotPath, { force: true });
      } catch {
        // Refused at the next start all the same.
      }
      this.snapshotEvent({ kind: 'save_failed', error: (e as Error).message });
    }
  }

  private snapshotEvent(e: SnapshotEvent): void {
    try {
      this.opts.onSnapshot?.(e);
    } catch {
      // A report only.
    }
  }

  /** In the background: stores the term hashes the load computed (terms-backfill.ts); reports once done or stopped. */
  private storeTerms(ids: readonly string[]): void {
    const write = (op: WriteOp) => {
      let rows = 0;
      return this.write([op], (changes) => void (rows = changes)).then(() => rows);
    };
    void storeLoadedTerms(ids, (id) => this.index.indexedTerms(id), write).then((done) => {
      try {
        this.opts.onTermsStored?.(done);
      } catch {
        // A report only.
      }
    });
  }

  async close(): Promise<void> {
    try {
      await this.committer?.close();
      const diverged = this.committer?.diverged ?? true;
      // After the last write, before the lock goes: the next start serves through these graphs at once.
      if (this.file && !this.keys) {
        // One token for both: graphs saved with the snapshot's token skip their vector checks when it is read (graph-files.ts).
        const token = newSnapshotToken();
        this.saveGraphs(token);
        this.saveSnapshot(this.file, token, diverged);
      }
    } finally {
      this.committer = null;
      this.file?.close();
      this.file = null;
      this.lock?.release();
      this.lock = null;
    }
  }

  /**
   * Before the rows load: reads the saved graphs (graph-files.ts) and hands
   * them to the index, or, with encryption at rest, removes them.
   */
  private adoptSavedGraphs(dataDir: string, snapshot: string | null): { found: number; adopted: number; refused: string[]; ms: number } {
    const started = performance.now();
    const refused: string[] = [];
    if (this.keys) {
      if (existsSync(join(dataDir, GRAPH_DIR))) {
        // Saved graphs hold vectors in the clear: an encrypted store keeps none (rebuilt at each start).
        try {
          removeGraphs(dataDir);
          this.event({ kind: 'removed', reason: 'encryption at rest is on: saved graphs hold vectors in the clear' });
        } catch (e) {
          this.event({ kind: 'remove_failed', error: (e as Error).message });
        }
      }
      return { found: 0, adopted: 0, refused, ms: 0 };
    }
    const saved = readGraphs(dataDir, this.graphIdentity, (f, reason) => refused.push(`${f}: ${reason}`));
    const adopted = this.index.adoptGraphs(saved, (f, reason) => refused.push(`${basename(f)}: ${reason}`), snapshot);
    return { found: saved.length, adopted, refused, ms: Math.round(performance.now() - started) };
  }

  private get graphIdentity(): GraphIdentity {
    const { space, ann } = this.opts;
    return { usearch: USEARCH_VERSION, space: spaceLabel(space), dims: space.dims, connectivity: ann.connectivity, expansionAdd: ann.expansionAdd, quantization: GRAPH_QUANTIZATION, vectorChecks: VECTOR_CHECKS };
  }

  private event(e: GraphFilesEvent): void {
    try {
      this.opts.onGraphFiles?.(e);
    } catch {
      // A report only.
    }
  }

  /** Saves every complete graph; a failure costs the next start a rebuild, never the close. */
  private saveGraphs(snapshotToken: string): void {
    const started = performance.now();
    try {
      const graphs = this.index.graphsToSave();
      const rows = graphs.reduce((n, g) => n + g.entries.length, 0);
      if (graphs.length > 0) this.event({ kind: 'saving', graphs: graphs.length, rows });
      const done = saveGraphs(this.opts.dataDir, this.graphIdentity, graphs, snapshotToken);
      if (graphs.length > 0) this.event({ kind: 'saved', graphs: done.saved, rows: done.rows, skipped: done.skipped, ms: Math.round(performance.now() - started) });
    } catch (e) {
      this.event({ kind: 'save_failed', error: (e as Error).message });
    }
  }

  health(): StoreHealth {
    if (!this.file) return { ok: false, detail: 'closed' };
    const failure = this.committer?.failure;
    if (failure) return { ok: false, detail: `writes failing: ${failure.message}` };
    const q = this.quarantine.report;
    const building = this.index.graphBuild.pending > 0 ? `; ANN graphs building, ${this.index.graphBuild.pending} rows to go (exact search meanwhile)` : '';
    const load = this.graphLoad;
    const saved = !load ? '' : `; ${load.graphs} ANN graphs loaded from disk${load.refused.length > 0 ? `, ${load.refused.length} refused and rebuilt (${load.refused.join('; ')})` : ''}`;
    const quarantined = q.count === 0 ? '' : `; ${q.count} quarantined: ${q.sample.map((e) => `${e.id} (${e.reason})`).join(', ')}${q.count > q.sample.length ? ', ...' : ''}`;
    const snapshot = this.snapshotRows === null ? '' : '; read from the index snapshot';
    return { ok: true, detail: `${this.index.size} records${snapshot}${saved}${building}${quarantined}` };
  }

  private get db(): SqliteFile {
    if (!this.file) throw new Error('store is not open');
    return this.file;
  }

  private write(ops: readonly WriteOp[], apply: (changes: number) => void | ApplySteps | number): Promise<void> {
    if (!this.committer) return Promise.reject(new StoreUnavailableError('closed', 'the store is not open'));
    return this.committer.submit(ops, apply);
  }

  upsert(records: readonly ContextRecord[]): Promise<void> {
    const { index, texts } = this;
    return this.write(
      // Term hashes computed off the event loop are stored with the row (a row in the clear), so no load hashes it again.
      records.map((record) => ({ kind: 'insert', record: record.terms ? { ...record, terms: ownTerms(record.terms) } : record })),
      // A big write enters the index in slices, a turn apart (postings, vectors, graph inserts of 1,000 rows hold the loop).
      function* () {
        for (let at = 0; at < records.length; at += APPLY_SLICE) {
          if (at > 0) yield;
          const slice = records.slice(at, at + APPLY_SLICE);
          index.insertMany(slice.map(({ text, vector, terms, ...meta }) => ({ meta, vector, text, terms, textBytes: Buffer.byteLength(text) })));
          for (const r of slice) texts.set(r.tenant, r.id, r.version, r.text);
        }
      },
    );
  }

  importRecords(records: readonly ContextRecord[]): Promise<ImportWrite[]> {
    // One write per record, so each learns whether SQLite wrote it; submitted together, they commit in one group.
    return Promise.all(
      records.map(({ terms, ...record }) => {
        let outcome: ImportWrite = 'kept';
        return this.write([{ kind: 'import', record: terms ? { ...record, terms: ownTerms(terms) } : record }], (changes) => {
          // Commit order: the index is what SQLite held just before this write.
          const held = this.index.locate(record.id);
          if (changes === 0) {
            outcome = held?.tenant === record.tenant ? 'kept' : 'taken';
            return;
          }
          outcome = held ? 'replaced' : 'inserted';
          const { text, vector, ...meta } = record;
          this.index.insertMany([{ meta, vector, text, terms, textBytes: Buffer.byteLength(text) }]);
          this.texts.set(record.tenant, record.id, record.version, text);
        }).then(() => outcome);
      }),
    );
  }

  async patch(tenant: string, id: string, patch: RecordPatch): Promise<ContextMeta | null> {
    if (!this.index.meta(tenant, id)) return null;
    let result: ContextMeta | null = null;
    const stored = patch.terms ? { ...patch, terms: ownTerms(patch.terms) } : patch;
    await this.write(
      [{ kind: 'patch', tenant, id, patch: stored }],
      () => {
        // Applied in commit order onto the then-current row, as SQLite applied it.
        const current = this.index.meta(tenant, id);
        if (!current) return;
        result = applyPatch(current, patch);
        const moves = result.level !== current.level;
        const unreadable: string[] = [];
        const text = patch.text ?? (moves ? (this.texts.get(tenant, id, current.version) ?? this.db.text(tenant, id, unreadable)) : undefined);
        if (unreadable.length > 0) return this.quarantineNow(tenant, id, 'sealed content no longer opens (altered after load)');
        if (text !== undefined) this.texts.set(tenant, id, result.version, text);
        else this.texts.carry(tenant, id, current.version, result.version);
        const vector = patch.vector ?? (moves ? this.storedVector(tenant, id) : undefined);
        this.index.put(result, {
          ...(patch.text !== undefined && { textBytes: Buffer.byteLength(patch.text) }),
          ...(text !== undefined && vector !== undefined && { content: { text, vector, terms: patch.text !== undefined ? patch.terms : undefined } }),
        });
      },
    );
    return result;
  }

  incrementAccess(tenant: string, counts: ReadonlyMap<string, number>): Promise<void> {
    const ids: string[] = [];
    const added: number[] = [];
    // Only ids of this tenant are counted (ids are unique across tenants, the check is for a forged one).
    for (const [id, n] of counts) {
      if (!this.index.meta(tenant, id)) continue;
      ids.push(id);
      added.push(n);
    }
    if (ids.length === 0) return Promise.resolve();
    return this.write([{ kind: 'access', ids, counts: added }], () => {
      for (let i = 0; i < ids.length; i++) this.index.addAccess(tenant, ids[i]!, added[i]!);
    });
  }

  async locate(ids: readonly string[]): Promise<Map<string, { tenant: string; version: number }>> {
    const out = new Map<string, { tenant: string; version: number }>();
    for (const id of ids) {
      const at = this.index.locate(id);
      if (at) out.set(id, at);
    }
    return out;
  }

  /**
   * As stored: the index holds a big partition's vectors in half precision (vector-rows.ts), and an export or a
   * migration copies them whole. Only rows the index holds (a quarantined row is never read).
   */
  async vectors(tenant: string, ids: readonly string[]): Promise<Map<string, Float32Array>> {
    return this.db.vectors(tenant, ids.filter((id) => this.index.meta(tenant, id) !== undefined));
  }

  /** A row's vector as stored, for its move to another level's partition (the index's may be in half precision). */
  private storedVector(tenant: string, id: string): Float32Array | undefined {
    return this.db.vectors(tenant, [id]).get(id) ?? this.index.vector(tenant, id);
  }

  async get(tenant: string, ids: readonly string[]): Promise<ContextDoc[]> {
    // Only rows the index holds: a quarantined row is never read (its sealed value may not open).
    const found: Array<{ id: string; meta: ContextMeta; text: string | undefined }> = [];
    const missing: string[] = [];
    for (const id of ids) {
      const meta = this.index.meta(tenant, id);
      if (!meta) continue;
      const text = this.texts.get(tenant, id, meta.version);
      found.push({ id, meta, text });
      if (text === undefined) missing.push(id);
    }
    if (found.length === 0) return [];
    const unreadable: string[] = [];
    const read = missing.length > 0 ? this.db.texts(tenant, missing, unreadable) : null;
    for (const id of unreadable) this.quarantineNow(tenant, id, 'sealed content no longer opens (altered after load)');
    const out: ContextDoc[] = [];
    for (const { id, meta, text: kept } of found) {
      let text = kept;
      if (text === undefined) {
        text = read?.get(id);
        // What SQLite holds now: this version's text, or a later one whose change is about to be applied (as before this cache).
        if (text !== undefined) this.texts.set(tenant, id, meta.version, text);
      }
      if (text !== undefined) out.push({ ...meta, text });
    }
    return out;
  }

  delete(tenant: string, ids: readonly string[]): Promise<number> {
    const present = ids.filter((id) => this.index.meta(tenant, id));
    if (present.length === 0) return Promise.resolve(0);
    return this.write(
      present.map((id) => ({ kind: 'delete', tenant, id })),
      () => {
        for (const id of present) {
          this.index.remove(id);
          this.texts.delete(id);
        }
      },
    ).then(() => present.length);
  }

  async deleteWhere(tenant: string, filter: RecordFilter): Promise<number> {
    const ids: string[] = [];
    await this.index.scan(tenant, filter, (m) => void ids.push(m.id));
    // The scan took turns: a context updated meanwhile so that it no longer matches is kept.
    const stillMatching = (id: string) => {
      const m = this.index.meta(tenant, id);
      return m !== undefined && matchesFilter(m, filter);
    };
    return this.delete(tenant, ids.filter(stillMatching));
  }

  async search(tenant: string, query: SearchQuery, filter: RecordFilter, k: number): Promise<SearchHit[]> {
    // A where key's index being made in slices: wait for it, rather than read the whole level in this turn.
    if (filter.where) await this.index.whereSettled(tenant, filter);
    return this.index.search(tenant, query, filter, k);
  }

  async searchMany(tenant: string, queries: readonly SearchQuery[], filter: RecordFilter, k: number): Promise<SearchHit[][]> {
    if (filter.where) await this.index.whereSettled(tenant, filter);
    // Sliced: a store_batch's dedup queries over a big partition would hold the event loop in one native call.
    return this.index.searchManySliced(tenant, queries, filter, k);
  }

  async find(tenant: string, filter: RecordFilter, limit: number, opts: { readonly background?: boolean } = {}): Promise<ContextMeta[]> {
    const out: ContextMeta[] = [];
    if (limit > 0) await this.index.scan(tenant, filter, (meta) => out.push(meta) < limit, { background: opts.background === true });
    return out;
  }

  async scroll(tenant: string, filter: RecordFilter, after: string | null, limit: number): Promise<ScrollPage> {
    const items: ContextMeta[] = [];
    let cursor = after ?? '';
    for (let chunk = 0; ; chunk++) {
      // The ids after the cursor are read again after the turn: what changed meanwhile is seen, nothing twice.
      if (chunk > 0 && chunk % SCROLL_CHUNKS_PER_TURN === 0) await nextSlice(tenant);
      const ids = this.db.idsAfter(tenant, cursor, SCROLL_CHUNK);
      for (const id of ids) {
        const meta = this.index.meta(tenant, id);
        if (meta && matchesFilter(meta, filter)) {
          items.push(meta);
          if (items.length === limit) return { items, next: id };
        }
      }
      if (ids.length < SCROLL_CHUNK) return { items, next: null };
      cursor = ids[ids.length - 1]!;
    }
  }

  async count(tenant: string, filter: RecordFilter): Promise<number> {
    let n = 0;
    await this.index.scan(tenant, filter, () => void n++);
    return n;
  }

  async stats(tenant: string, now: number): Promise<TenantStats> {
    const sessions = new Set<string>();
    const perLevel: Record<Level, number> = { 1: 0, 2: 0, 3: 0 };
    await this.index.scan(tenant, { aliveAt: now }, (m) => {
      perLevel[m.level]++;
      if (m.level !== 3) sessions.add(m.session);
    });
    return { perLevel, textBytes: this.index.textBytes(tenant), sessions: sessions.size };
  }

  async tenants(): Promise<string[]> {
    return this.index.tenants();
  }

  usage(tenant: string): TenantUsage {
    return this.index.usage(tenant);
  }

  /**
   * Writes a consistent online copy of the database into `dir` (backup.worker.ts):
   * every write committed before the call is in it. Serving goes on meanwhile.
   */
  async backup(dir: string): Promise<{ path: string; bytes: number; sha256: string }> {
    if (!this.file) throw new StoreUnavailableError('closed', 'the store is not open');
    // One at a time: each copy is the size of the database, on the disk it may share.
    if (this.backingUp) throw new StoreUnavailableError('backup_failed', 'a backup is already being written');
    this.backingUp = true;
    try {
      return await this.writeBackup(dir);
    } catch (e) {
      throw e instanceof StoreUnavailableError ? e : new StoreUnavailableError('backup_failed', `backup failed: ${(e as Error).message}`, { cause: e });
    } finally {
      this.backingUp = false;
    }
  }

  private async writeBackup(dir: string): Promise<{ path: string; bytes: number; sha256: string }> {
    ensureDataDir(dir);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const target = join(dir, `ctxd-${stamp}-${process.pid}-${(this.backups++).toString(36)}.sqlite`);
    const worker = new Worker(new URL('./backup.worker.ts', import.meta.url), { workerData: { source: join(this.opts.dataDir, 'ctxd.sqlite'), target } });
    const answer = await new Promise<{ ok: true; bytes: number; sha256: string } | { ok: false; message: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the backup thread exited (${code})`)));
    });
    if (!answer.ok) throw new StoreUnavailableError('backup_failed', `backup failed: ${answer.message}`);
    // Its checksum beside it, in sha256sum's format (the copy itself was made owner-only).
    writeFileSync(`${target}.sha256`, `${answer.sha256}  ${basename(target)}\n`, { mode: 0o600 });
    return { path: target, bytes: answer.bytes, sha256: answer.sha256 };
  }

  /** Whether rows are sealed, with which key, and how many are not yet sealed with it (health, `rekey`). */
  encryption(): { active_kid: string; remaining: number } | null {
    return this.keys && this.file ? { active_kid: this.keys.active, remaining: this.db.sealing.unsealedCount() } : null;
  }

  /**
   * One step of `rekey` (PROTOCOL.md §7.15): takes `keys` (read again by the
   * caller) as the store's keys, then seals up to `limit` rows after `after`
   * that are not under the active key. Each step is one commit, so a step
   * killed midway leaves every row under one key or the other, and the next
   * run picks up what is left. At the end of a pass the file is rebuilt if
   * rows were re-sealed, and the WAL truncated, so bytes from before the
   * re-seal leave the disk (sealing.ts compact).
   */
  async rekey(keys: DataKeys | null, after: string | null, limit: number, opts: { dropUnreadable?: boolean } = {}): Promise<RekeyStep> {
    if (!this.committer || !this.file) throw new StoreUnavailableError('closed', 'the store is not open');
    if (!this.keys) throw new InvalidRequestError('encryption', 'encryption at rest is not configured (encryption.key_file or encryption.key_env), so there is nothing to re-seal');
    if (!keys) throw new InvalidRequestError('encryption', 'the daemon was started with encryption at rest; its data keys can no longer be read');
    // Checked only when they changed: the check reads every key id in use, which a step should not pay for.
    if (!sameKeys(keys, this.keys)) {
      if (!keys.keys.has(this.keys.active)) {
        throw new InvalidRequestError('encryption', `the data keys must still hold ${this.keys.active}, the key in use until now: rows are being written with it`);
      }
      const sealer = new Sealer(keys);
      try {
        this.db.sealing.checkKeys(sealer);
      } catch (e) {
        if (e instanceof DataKeyError) throw new InvalidRequestError('encryption', e.message);
        throw e;
      }
      this.keys = keys;
      this.committer.setKeys(keys);
      this.db.sealing.setSealer(sealer);
      this.remaining = null;
    }
    // Counted exactly at a pass's start and end; in between, what the steps re-sealed is taken off (new writes are all under the active key).
    let remaining = after === null || this.remaining === null ? this.db.sealing.unsealedCount() : this.remaining;
    const ids = this.db.sealing.unsealedIdsAfter(after ?? '', limit);
    let resealed = 0;
    let dropped = 0;
    if (ids.length > 0) {
      // Quarantined rows (not in the index) that do not open are deleted only when the operator asks (ctxd rekey --drop-unreadable).
      const quarantined = opts.dropUnreadable ? ids.filter((id) => !this.index.locate(id)) : [];
      await Promise.all([
        this.write([{ kind: 'reseal', ids }], (n) => (resealed = n)),
        quarantined.length > 0 ? this.write([{ kind: 'drop_unreadable', ids: quarantined }], (n) => (dropped = n)) : undefined,
      ]);
    }
    const unreadable = ids.length > 0 ? this.db.sealing.unsealedAmong(ids) : 0;
    const next = ids.length < limit ? null : ids[ids.length - 1]!;
    remaining = Math.max(0, remaining - resealed - dropped);
    let compact: CompactState = { pending: false, error: null };
    if (next === null) {
      await this.write([{ kind: 'compact' }], () => {});
      remaining = this.db.sealing.unsealedCount();
      compact = this.db.sealing.compactState();
    }
    this.remaining = remaining;
    return { active_kid: keys.active, resealed, unreadable, dropped, remaining, next, compact };
  }

  /** Committed through the same FIFO committer as data writes: never after a write submitted later (request-journal.ts). */
  recordRequest(kid: string, id: string, ts: number): Promise<void> {
    return this.write([{ kind: 'request', kid, id, ts }], () => {});
  }

  recentRequests(sinceTs: number): RequestEntry[] {
    return this.db.recentRequests(sinceTs);
  }

  async forgetRequests(kids: readonly string[], beforeTs: number): Promise<number> {
    if (kids.length === 0) return 0;
    let forgotten = 0;
    await this.write([{ kind: 'forget_requests', kids, before: beforeTs }], (changes) => (forgotten = changes));
    return forgotten;
  }

  async pruneRequests(beforeTs: number): Promise<number> {
    let pruned = 0;
    await this.write([{ kind: 'prune_requests', before: beforeTs }], (changes) => (pruned = changes));
    return pruned;
  }
}

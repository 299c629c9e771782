/**
 * ANN graphs persisted beside the database, so a restart searches through its
 * graphs at once instead of rebuilding them (2,500 s of CPU at a million rows).
 *
 * Each graph partition is two files in `<data dir>/ann/`, named by a hash of
 * the partition (no tenant name in a file name):
 * - `<name>.usearch`: usearch's own serialisation of the graph;
 * - `<name>.keys`: what the graph holds (each key's context id and a 64-bit
 *   check of its stored vector), the graph file's size and CRC-32, and the
 *   options it was built with, ending in a CRC-32 of itself.
 *
 * A file is never trusted, only reconciled: at load, a row takes its saved key
 * only when its id, partition and vector check all match (metadata changes,
 * access counts included, keep the key); saved keys no row took are removed
 * from the graph, and rows the graph lacks are added in the background. So a file of any age (a kill -9 since the last save, a
 * backup restored under it) gives the same answers as a rebuild, and a file
 * that fails its checks is ignored (the graph is rebuilt).
 *
 * Saving is synchronous in usearch (no slices, no worker can share the graph),
 * so it happens at close, after the last write, where no request waits.
 * Both files are written under temporary names, fsynced and renamed, the keys
 * file last: it names the graph file's CRC, so a torn pair is refused.
 *
 * One exception to "never trusted": a keys file names the token of the index
 * snapshot its close wrote next (index-snapshot.ts). When the start reads that
 * very snapshot (its token still in the database: no row changed since), the
 * rows are those the graph was saved from, and their vector checks are skipped.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Level } from '../../domain/context.ts';
import { DIR_MODE, ensurePrivateFile, fsyncPath } from './data-files.ts';
import { halfWriter } from './half-float.ts';

export const GRAPH_DIR = 'ann';
const MAGIC = 'CTXDANN1';
const READ_CHUNK = 8 << 20;

/** What a graph must have been built with to be reused: another space or other options mean another graph. */
export interface GraphIdentity {
  /** usearch's release: the graph file is its serialisation. */
  readonly usearch: string;
  readonly space: string;
  readonly dims: number;
  readonly connectivity: number;
  readonly expansionAdd: number;
  readonly quantization: string;
  /** VECTOR_CHECKS: keys files of other checks are refused (their rows would all look changed). */
  readonly vectorChecks: string;
}

/** One saved entry of a graph: the key a row held and what identifies its vector. */
export interface SavedKey {
  readonly key: number;
  readonly id: string;
  readonly check: VectorCheck;
}

/**
 * CRC-32s of a vector's two halves: CRC collisions are linear in the
 * difference, so one CRC over the whole is 32 bits of assurance and two
 * independent halves are 64.
 */
export type VectorCheck = readonly [number, number];

export interface SavedGraph {
  readonly tenant: string;
  readonly level: Level;
  /** The token of the index snapshot written by the same close (index-snapshot.ts), if one was. */
  readonly snapshot: string | null;
  readonly graphPath: string;
  readonly entries: readonly SavedKey[];
}

/** A graph to save: its partition, a function that writes its usearch file, and its entries. */
export interface GraphToSave {
  readonly tenant: string;
  readonly level: Level;
  readonly save: (path: string) => void;
  readonly entries: readonly SavedKey[];
}

interface Header extends GraphIdentity {
  readonly tenant: string;
  readonly level: Level;
  readonly rows: number;
  readonly graphBytes: number;
  readonly graphCrc: number;
  /** SavedGraph.snapshot. */
  readonly snapshot?: string;
}

/**
 * What a vector check is taken of (part of a saved graph's identity): the vector's half-precision bits, the form a
 * graph's partition holds it in (vector-rows.ts). A row loaded from SQLite (float32) is rounded the same way, so it
 * matches the check of the values its graph was saved with.
 */
export const VECTOR_CHECKS = 'crc32x2-of-halves';

/** Scratch halves of vectorCheck, and their writer (one Float16Array view, not one a row: a check per row loaded). */
let scratch = new Uint16Array(0);
let writeScratch = halfWriter(scratch);

/** The check of a vector, by its half-precision bits (VECTOR_CHECKS). */
export function vectorCheck(vector: Float32Array): VectorCheck {
  if (scratch.length !== vector.length) {
    scratch = new Uint16Array(vector.length);
    writeScratch = halfWriter(scratch);
  }
  writeScratch(vector, 0);
  return halvesCheck(scratch);
}

/** The check of a vector held in half precision. */
export function halvesCheck(halves: Uint16Array): VectorCheck {
  const bytes = new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
  const half = (bytes.length >> 3) << 2;
  return [crc32(bytes.subarray(0, half)), crc32(bytes.subarray(half))];
}

export function sameCheck(a: VectorCheck, b: VectorCheck): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

function fileName(tenant: string, level: Level): string {
  return createHash('sha256').update(`${level}\u0000${tenant}`).digest('hex').slice(0, 32);
}

/**
 * The slots a usearch file holds, removed entries included: its first word
 * (the row count of the vectors it stores first).
 *
 * usearch's JS binding (2.25, lib.cpp `Load`) reserves room for ceil2(live
 * entries) right after a `load`, and its `try_reserve` copies every slot's
 * pointer into a table of that size (index_dense.hpp): a file with more slots
 * overruns the heap and kills the process, with no exception to catch (found
 * by review; reproduced with 3,000 rows of which 1,900 were deleted). So a
 * graph is saved, and loaded, only when its slots fit ceil2(live): a few
 * removed entries (usearch reuses their slots for the next adds) are fine; a
 * partition that shrank far is rebuilt at the next start instead.
 */
function graphSlots(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const word = Buffer.alloc(4);
    return readSync(fd, word, 0, 4, 0) === 4 ? word.readUInt32LE(0) : -1;
  } finally {
    closeSync(fd);
  }
}

/** Whether usearch's load can take a file of `slots` slots holding `live` entries (graphSlots). */
function loadable(slots: number, live: number): boolean {
  const reserved = live === 0 ? 0 : 2 ** Math.ceil(Math.log2(live));
  return slots >= live && slots <= reserved;
}

function fileCrc(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    let crc = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, READ_CHUNK, null);
      if (n === 0) return crc;
      crc = crc32(chunk.subarray(0, n), crc);
    }
  } finally {
    closeSync(fd);
  }
}

function encodeKeys(header: Header, entries: readonly SavedKey[]): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const ids = entries.map((e) => Buffer.from(e.id));
  const idBytes = ids.reduce((n, b) => n + b.length, 0);
  const n = entries.length;
  if (ids.some((b) => b.length > 0xffff)) throw new Error('a context id is longer than 65,535 bytes');
  const out = Buffer.alloc(MAGIC.length + 4 + head.length + n * (8 + 4 + 4 + 2) + idBytes + 4);
  let at = out.write(MAGIC, 0, 'latin1');
  at = out.writeUInt32LE(head.length, at);
  at += head.copy(out, at);
  for (const e of entries) at = out.writeDoubleLE(e.key, at);
  for (const e of entries) at = out.writeUInt32LE(e.check[0] >>> 0, at);
  for (const e of entries) at = out.writeUInt32LE(e.check[1] >>> 0, at);
  for (const b of ids) at = out.writeUInt16LE(b.length, at);
  for (const b of ids) at += b.copy(out, at);
  out.writeUInt32LE(crc32(out.subarray(0, at)), at);
  return out;
}

/** Parses a keys file, or throws saying why it is refused. */
function decodeKeys(buf: Buffer): { header: Header; entries: SavedKey[] } {
  if (buf.length < MAGIC.length + 8 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new Error('not a graph keys file');
  const body = buf.subarray(0, buf.length - 4);
  if (crc32(body) !== buf.readUInt32LE(buf.length - 4)) throw new Error('checksum mismatch');
  let at = MAGIC.length;
  const headLength = buf.readUInt32LE(at);
  at += 4;
  const header = JSON.parse(buf.toString('utf8', at, at + headLength)) as Header;
  at += headLength;
  const n = header.rows;
  if (!Number.isSafeInteger(n) || n < 0 || at + n * 18 > body.length) throw new Error('truncated');
  const keys = new Array<number>(n);
  const heads = new Array<number>(n);
  const tails = new Array<number>(n);
  const lengths = new Array<number>(n);
  for (let i = 0; i < n; i++, at += 8) keys[i] = buf.readDoubleLE(at);
  for (let i = 0; i < n; i++, at += 4) heads[i] = buf.readUInt32LE(at);
  for (let i = 0; i < n; i++, at += 4) tails[i] = buf.readUInt32LE(at);
  for (let i = 0; i < n; i++, at += 2) lengths[i] = buf.readUInt16LE(at);
  const unique = new Set(keys);
  if (unique.size !== n || keys.some((k) => !Number.isSafeInteger(k) || k < 1)) throw new Error('keys are not distinct positive integers');
  const entries: SavedKey[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const end = at + lengths[i]!;
    if (end > body.length) throw new Error('truncated');
    entries[i] = { key: keys[i]!, check: [heads[i]!, tails[i]!], id: buf.toString('utf8', at, end) };
    at = end;
  }
  if (at !== body.length) throw new Error('trailing bytes');
  return { header, entries };
}

/**
 * Writes every graph, replacing the saved set: files of partitions not in
 * `graphs` are removed. Returns the graphs left unsaved (holding removed
 * entries: graphSlots) with why. Throws on an I/O failure (what was renamed
 * stays consistent: each keys file names its own graph file's CRC).
 */
export function saveGraphs(dataDir: string, identity: GraphIdentity, graphs: readonly GraphToSave[], snapshot?: string): { saved: number; rows: number; skipped: string[] } {
  const result = { saved: 0, rows: 0, skipped: [] as string[] };
  const dir = join(dataDir, GRAPH_DIR);
  if (!existsSync(dir)) mkdirSync(dir, { mode: DIR_MODE });
  const kept = new Set<string>();
  for (const g of graphs) {
    const name = fileName(g.tenant, g.level);
    const graphPath = join(dir, `${name}.usearch`);
    const keysPath = join(dir, `${name}.keys`);
    const graphTmp = `${graphPath}.tmp`;
    const keysTmp = `${keysPath}.tmp`;
    try {
      // Created 0600 first: usearch truncates an existing file and keeps its mode.
      rmSync(graphTmp, { force: true });
      ensurePrivateFile(graphTmp);
      g.save(graphTmp);
      const slots = graphSlots(graphTmp);
      if (!loadable(slots, g.entries.length)) {
        rmSync(graphTmp, { force: true });
        result.skipped.push(`${name}: ${slots - g.entries.length} removed entries beside ${g.entries.length} (rebuilt at the next start)`);
        continue;
      }
      fsyncPath(graphTmp);
      const header: Header = { ...identity, tenant: g.tenant, level: g.level, rows: g.entries.length, graphBytes: statSync(graphTmp).size, graphCrc: fileCrc(graphTmp), snapshot };
      rmSync(keysTmp, { force: true });
      writeFileSync(keysTmp, encodeKeys(header, g.entries), { mode: 0o600 });
      fsyncPath(keysTmp);
      renameSync(graphTmp, graphPath);
      renameSync(keysTmp, keysPath);
    } catch (e) {
      // A full disk must not keep a half-written graph: the database needs that room at the next start.
      rmSync(graphTmp, { force: true });
      rmSync(keysTmp, { force: true });
      throw e;
    }
    kept.add(`${name}.usearch`).add(`${name}.keys`);
    result.saved++;
    result.rows += g.entries.length;
  }
  for (const f of readdirSync(dir)) if (!kept.has(f)) rmSync(join(dir, f), { force: true });
  fsyncPath(dir);
  return result;
}

/**
 * The saved graphs that pass their checks for `identity`; each refused file
 * is reported to `refuse` with its reason and left out (rebuilt instead).
 */
export function readGraphs(dataDir: string, identity: GraphIdentity, refuse: (file: string, reason: string) => void): SavedGraph[] {
  const dir = join(dataDir, GRAPH_DIR);
  let names: string[];
  try {
    if (!existsSync(dir)) return [];
    names = readdirSync(dir);
  } catch (e) {
    // Not a directory, or unreadable: nothing is loaded, every graph is rebuilt.
    refuse(GRAPH_DIR, (e as Error).message);
    return [];
  }
  const out: SavedGraph[] = [];
  for (const f of names) {
    if (!f.endsWith('.keys')) continue;
    const graphPath = join(dir, f.replace(/\.keys$/, '.usearch'));
    try {
      const { header, entries } = decodeKeys(readFileSync(join(dir, f)));
      for (const k of ['usearch', 'space', 'dims', 'connectivity', 'expansionAdd', 'quantization', 'vectorChecks'] as const) {
        if (header[k] !== identity[k]) throw new Error(`built with ${k} ${String(header[k])}, now ${String(identity[k])}`);
      }
      if (fileName(header.tenant, header.level) !== f.replace(/\.keys$/, '')) throw new Error('named for another partition');
      if (!existsSync(graphPath)) throw new Error('graph file missing');
      if (statSync(graphPath).size !== header.graphBytes || fileCrc(graphPath) !== header.graphCrc) throw new Error('graph file checksum mismatch');
      if (!loadable(graphSlots(graphPath), entries.length)) throw new Error('graph file holds too many removed entries to load safely');
      out.push({ tenant: header.tenant, level: header.level, snapshot: typeof header.snapshot === 'string' ? header.snapshot : null, graphPath, entries });
    } catch (e) {
      refuse(f, (e as Error).message);
    }
  }
  return out;
}

/** Removes every saved graph (their vectors are in the clear: an encrypted store keeps none). */
export function removeGraphs(dataDir: string): void {
  rmSync(join(dataDir, GRAPH_DIR), { recursive: true, force: true });
}

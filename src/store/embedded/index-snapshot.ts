/**
 * The in-memory index's rows, written beside the database at a clean close,
 * so the next start reads them in a few large reads instead of stepping
 * SQLite row by row (~16 µs a row: 1.6 s of a 100,000-row start, and a
 * quarter of a million-row one).
 *
 * Trusted only when the database says so. The file carries a random token;
 * the close writes that token to the database's settings once the file is
 * durable, and every open of the database takes it out again before anything
 * else is written (SqliteFile). So the tokens match only when nothing can have
 * been written since the snapshot: a kill -9 after a start, an offline
 * command, a backup restored under the data dir all leave no match, and the
 * rows are read from SQLite as before.
 *
 * Layout (little-endian; typed arrays in this machine's byte order, which the
 * identity names):
 *   MAGIC, u32 header length, header JSON, padding to 4 bytes,
 *   then per chunk of at most CHUNK_ROWS rows of one partition:
 *     u32 rows, u32 term count, u32 meta bytes, u32 CRC-32 of the body,
 *     body: u32 text bytes[rows], u32 term counts[rows], u32 terms[term count],
 *           metas (msgpack, padded to 4 bytes),
 *     f32 vectors[rows × dims] (not in the CRC: checking 1.5 KB a row costs
 *     what the snapshot saves; a damaged vector can only misrank its own row).
 *
 * Vectors, metadata and tags are in the clear: a store with encryption at rest
 * never writes one (and removes one it finds).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import { NO_METADATA, NO_TAGS, type ContextMeta, type Level } from '../../domain/context.ts';
import type { QuarantineReport } from '../backend.ts';
import { FILE_MODE, fsyncPath } from './data-files.ts';
import { Interned } from './loader.ts';

export const SNAPSHOT_FILE = 'index.snapshot';
const MAGIC = 'CTXDSNP1';
/** Rows per chunk: a chunk's vectors (1.5 MB at 384 dimensions) are read into one reused buffer. */
export const CHUNK_ROWS = 1024;
const CHUNK_HEAD = 16;

/** What the rows were indexed with: another build, space or byte order reads SQLite instead. */
export interface SnapshotIdentity {
  /** The format and the rules a row was admitted by (the package version). */
  readonly build: string;
  readonly space: string;
  readonly dims: number;
  /** Lexical term rules and byte order of the stored term hashes (LEXICAL_TERMS_VERSION). */
  readonly terms: string;
}

interface Header {
  readonly identity: SnapshotIdentity;
  readonly token: string;
  readonly rows: number;
  readonly quarantine: QuarantineReport;
}

/** One partition's rows as the index holds them; `vectors(from, to)` gives rows from..to-1's, `(to − from) × dims` floats. */
export interface SnapshotPart {
  readonly tenant: string;
  readonly level: Level;
  readonly rows: ReadonlyArray<{ readonly meta: ContextMeta; readonly textBytes: number; readonly terms: Uint32Array }>;
  readonly vectors: (from: number, to: number) => Float32Array;
}

/** A row as read back, its vector still in the file. */
export interface SnapshotRow {
  readonly meta: ContextMeta;
  readonly textBytes: number;
  readonly terms: Uint32Array;
}

/** A chunk's rows, their vectors not yet read. */
export interface SnapshotChunk {
  readonly rows: readonly SnapshotRow[];
  /** Where its vectors start in the file. */
  readonly vectorsAt: number;
}

// Plain arrays of strings, numbers and nulls only (tags and metadata travel as their JSON, as SQLite holds them).
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export function newSnapshotToken(): string {
  return randomBytes(16).toString('hex');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function bytesOf(a: Uint32Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function packMetas(tenant: string, level: Level, rows: SnapshotPart['rows']): Buffer {
  const list = rows.map(({ meta: m }) => [
    m.id,
    m.session,
    m.agent,
    m.tags.length === 0 ? '[]' : JSON.stringify(m.tags),
    Object.keys(m.metadata).length === 0 ? '{}' : JSON.stringify(m.metadata),
    m.tokens,
    m.createdTs,
    m.ts,
    m.expiresAt,
    m.accessCount,
    m.version,
  ]);
  return packr.pack([tenant, level, list]);
}

/**
 * Writes `parts` to `path` (a temporary file, fsynced, renamed, the directory
 * fsynced): once this returns, the file is durable and its token may be
 * given to the database. Throws on an I/O failure, leaving no file behind.
 */
export function writeSnapshot(path: string, identity: SnapshotIdentity, token: string, quarantine: QuarantineReport, parts: Iterable<SnapshotPart>, rows: number): void {
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', FILE_MODE);
  try {
    const head = Buffer.from(JSON.stringify({ identity, token, rows, quarantine } satisfies Header));
    const start = Buffer.alloc(MAGIC.length + 4 + head.length + pad4(head.length));
    start.write(MAGIC, 0, 'latin1');
    start.writeUInt32LE(head.length, MAGIC.length);
    head.copy(start, MAGIC.length + 4);
    writeAll(fd, start);
    let written = 0;
    for (const part of parts) {
      for (let from = 0; from < part.rows.length; from += CHUNK_ROWS) {
        const rowsOf = part.rows.slice(from, from + CHUNK_ROWS);
        const n = rowsOf.length;
        const termCount = rowsOf.reduce((t, r) => t + r.terms.length, 0);
        const metas = packMetas(part.tenant, part.level, rowsOf);
        const body = new Uint32Array(2 * n + termCount + Math.ceil(metas.length / 4));
        rowsOf.forEach((r, i) => {
          body[i] = r.textBytes;
          body[n + i] = r.terms.length;
        });
        let at = 2 * n;
        for (const r of rowsOf) {
          body.set(r.terms, at);
          at += r.terms.length;
        }
        const bodyBytes = bytesOf(body);
        bodyBytes.set(metas, at * 4);
        const chunkHead = Buffer.alloc(CHUNK_HEAD);
        chunkHead.writeUInt32LE(n, 0);
        chunkHead.writeUInt32LE(termCount, 4);
        chunkHead.writeUInt32LE(metas.length, 8);
        chunkHead.writeUInt32LE(crc32(bodyBytes), 12);
        writeAll(fd, chunkHead);
        writeAll(fd, bodyBytes);
        const vectors = part.vectors(from, from + n);
        if (vectors.length !== n * identity.dims) throw new Error(`a chunk of ${n} rows has ${vectors.length} vector components, not ${n} × ${identity.dims}`);
        writeAll(fd, bytesOf(vectors));
        written += n;
      }
    }
    if (written !== rows) throw new Error(`snapshot holds ${written} rows, expected ${rows}`);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

/** writeSync until every byte is written (a regular file may take fewer in one call). */
function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
}

function readExactly(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new Error('truncated');
    done += n;
  }
}

function unpackChunk(bytes: Uint8Array, n: number): { tenant: string; level: Level; list: unknown[][] } {
  const value = unpackr.unpack(bytes) as unknown;
  if (!Array.isArray(value) || value.length !== 3) throw new Error('chunk metadata is not [tenant, level, rows]');
  const [tenant, level, list] = value as [unknown, unknown, unknown];
  if (typeof tenant !== 'string' || (level !== 1 && level !== 2 && level !== 3) || !Array.isArray(list) || list.length !== n) throw new Error('chunk metadata does not match its header');
  return { tenant, level, list: list as unknown[][] };
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isCount = (v: unknown): v is number => isInt(v) && v >= 0;

function validHeader(h: Header): boolean {
  const q = h?.quarantine;
  return (
    typeof h === 'object' && h !== null && typeof h.token === 'string' && isCount(h.rows) && typeof h.identity === 'object' && h.identity !== null &&
    isCount(q?.count) && Array.isArray(q.sample) && q.sample.length <= q.count &&
    q.sample.every((e) => typeof e?.id === 'string' && typeof e.tenant === 'string' && typeof e.reason === 'string')
  );
}


function metaOf(tenant: string, level: Level, m: unknown[], names: Interned): ContextMeta {
  const [id, session, agent, tags, metadata, tokens, createdTs, ts, expiresAt, accessCount, version] = m;
  if (
    m.length !== 11 || typeof id !== 'string' || typeof session !== 'string' || (agent !== null && typeof agent !== 'string') || typeof tags !== 'string' ||
    typeof metadata !== 'string' || !isInt(tokens) || !isInt(createdTs) || !isInt(ts) || (expiresAt !== null && !isInt(expiresAt)) || !isInt(accessCount) || !isInt(version)
  ) {
    throw new Error('a row does not have the expected fields');
  }
  const tagList = tags === '[]' ? NO_TAGS : (JSON.parse(tags) as unknown);
  const fields = metadata === '{}' ? NO_METADATA : (JSON.parse(metadata) as unknown);
  if (!Array.isArray(tagList) || !tagList.every((t) => typeof t === 'string')) throw new Error('a row\'s tags are not a list of strings');
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new Error('a row\'s metadata is not an object');
  return {
    id, tenant, level, session: names.of(session), agent: agent === null ? null : names.of(agent),
    tags: tagList as string[], metadata: fields as ContextMeta['metadata'],
    tokens, createdTs, ts, expiresAt, accessCount, version,
  };
}

/**
 * An open snapshot whose every chunk but the vectors has been read and
 * checked: reading the vectors (`vectorsOf`) is all that is left, so a load
 * that starts on it does not stop half-way on anything but an I/O error.
 */
export class SnapshotReader {
  readonly chunks: readonly SnapshotChunk[];
  readonly rows: number;
  readonly quarantine: QuarantineReport;
  private readonly fd: number;
  readonly dims: number;
  private readonly buffer: Float32Array;
  private closed = false;

  private constructor(fd: number, dims: number, header: Header, chunks: SnapshotChunk[]) {
    this.fd = fd;
    this.dims = dims;
    this.chunks = chunks;
    this.rows = header.rows;
    this.quarantine = header.quarantine;
    this.buffer = new Float32Array(CHUNK_ROWS * dims);
  }

  /**
   * Opens `path` when it holds the rows of `token` under `identity`; null when
   * there is none; throws why it is refused otherwise.
   */
  static open(path: string, identity: SnapshotIdentity, token: string | null): SnapshotReader | null {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      const size = fstatSync(fd).size;
      const start = Buffer.alloc(MAGIC.length + 4);
      readExactly(fd, start, 0);
      if (start.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new Error('not an index snapshot');
      const headLength = start.readUInt32LE(MAGIC.length);
      if (headLength > 1 << 20) throw new Error('header too long');
      const head = Buffer.alloc(headLength);
      readExactly(fd, head, start.length);
      const header = JSON.parse(head.toString('utf8')) as Header;
      if (!validHeader(header)) throw new Error('header is not a snapshot header');
      if (token === null || header.token !== token) throw new Error('written before the database last changed');
      for (const k of ['build', 'space', 'dims', 'terms'] as const) {
        if (header.identity?.[k] !== identity[k]) throw new Error(`written with ${k} ${String(header.identity?.[k])}, now ${String(identity[k])}`);
      }
      const chunks = readChunks(fd, size, start.length + headLength + pad4(headLength), identity.dims, header.rows);
      return new SnapshotReader(fd, identity.dims, header, chunks);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** A chunk's vectors, in a buffer the next call reuses: copy them (the index does) before asking for more. */
  vectorsOf(chunk: SnapshotChunk): Float32Array {
    const floats = this.buffer.subarray(0, chunk.rows.length * this.dims);
    readExactly(this.fd, bytesOf(floats), chunk.vectorsAt);
    return floats;
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

function readChunks(fd: number, size: number, first: number, dims: number, rows: number): SnapshotChunk[] {
  const chunks: SnapshotChunk[] = [];
  const head = Buffer.alloc(CHUNK_HEAD);
  const names = new Interned();
  let at = first;
  let total = 0;
  while (at < size) {
    readExactly(fd, head, at);
    const n = head.readUInt32LE(0);
    const termCount = head.readUInt32LE(4);
    const metaBytes = head.readUInt32LE(8);
    const bodyLength = 4 * (2 * n + termCount) + metaBytes + pad4(metaBytes);
    const vectorBytes = n * dims * 4;
    if (n === 0 || n > CHUNK_ROWS || at + CHUNK_HEAD + bodyLength + vectorBytes > size) throw new Error('truncated');
    const body = new Uint32Array(bodyLength / 4);
    readExactly(fd, bytesOf(body), at + CHUNK_HEAD);
    if (crc32(bytesOf(body)) !== head.readUInt32LE(12)) throw new Error('checksum mismatch');
    const { tenant, level, list } = unpackChunk(bytesOf(body).subarray(4 * (2 * n + termCount), 4 * (2 * n + termCount) + metaBytes), n);
    // The terms outlive the chunk (rows keep them): copied out of the body, which the metas' bytes make larger.
    const terms = body.slice(2 * n, 2 * n + termCount);
    const loaded: SnapshotRow[] = new Array(n);
    let t = 0;
    for (let i = 0; i < n; i++) {
      const count = body[n + i]!;
      if (t + count > termCount) throw new Error('term counts exceed the chunk');
      loaded[i] = { meta: metaOf(tenant, level, list[i]!, names), textBytes: body[i]!, terms: terms.subarray(t, t + count) };
      t += count;
    }
    if (t !== termCount) throw new Error('term counts do not add up');
    chunks.push({ rows: loaded, vectorsAt: at + CHUNK_HEAD + bodyLength });
    at += CHUNK_HEAD + bodyLength + vectorBytes;
    total += n;
  }
  if (total !== rows) throw new Error(`holds ${total} rows, its header ${rows}`);
  return chunks;
}

/**
 * What of a row encryption at rest seals, and its byte layout. With a data
 * key configured, a row's session, agent, text, tags, metadata and vector
 * leave their columns (which hold blanks) for one sealed value in `sealed`,
 * under the key named by `enc_kid`:
 *
 *   u32 LE length of J | J = JSON [session, agent, text, tags, metadata] | vector (float32 LE)
 *
 * Ids, tenant, level, token counts, times, versions and access counts stay in
 * the clear: the store selects and orders by them (PRODUCTION.md says so).
 * The associated data binds the value to its tenant, id and key id (so a
 * value moved onto another row, or relabelled with another key id, does not
 * open). It does not bind the version: someone who can write the file can
 * put back an older sealed state of a row, or delete rows, but not forge one.
 */
import { UnsealError, type Sealer } from '../encryption/sealer.ts';

/** The sealed part of a row, as its plaintext columns hold it (tags and metadata as JSON text). */
export interface RowContent {
  readonly session: string;
  readonly agent: string | null;
  readonly text: string;
  readonly tags: string;
  readonly metadata: string;
  readonly vector: Uint8Array;
}

/** What the plaintext columns of a sealed row hold. */
export const BLANK_CONTENT: RowContent = { session: '', agent: null, text: '', tags: '', metadata: '', vector: new Uint8Array(0) };

export function rowAad(tenant: string, id: string, kid: string): Buffer {
  return Buffer.from(`ctxd-row\u0000${tenant}\u0000${id}\u0000${kid}`);
}

const KEY_CHECK = Buffer.from('ctxd data key check v1');
const keyCheckAad = (kid: string) => Buffer.from(`ctxd-key-check\u0000${kid}`);

/** A constant sealed with key `kid` (sealing.ts keeps one per key): proves the key's bytes without reading rows. */
export function sealKeyCheck(sealer: Sealer, kid: string): Buffer {
  return sealer.sealWith(kid, KEY_CHECK, keyCheckAad(kid));
}

/** Throws UnsealError unless `check` was sealed with these bytes of key `kid`. */
export function openKeyCheck(sealer: Sealer, kid: string, check: Uint8Array): void {
  if (!sealer.open(kid, check, keyCheckAad(kid)).equals(KEY_CHECK)) throw new UnsealError(`the check value of data key ${kid} holds something else`);
}

export function encodeContent(c: RowContent): Buffer {
  const json = Buffer.from(JSON.stringify([c.session, c.agent, c.text, c.tags, c.metadata]));
  const out = Buffer.allocUnsafe(4 + json.length + c.vector.byteLength);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  out.set(c.vector, 4 + json.length);
  return out;
}

/** A sealed value that opened but does not decode (written by a broken build): treated like one that does not open. */
export class ContentError extends UnsealError {}

export function decodeContent(b: Buffer): RowContent {
  if (b.length < 4) throw new ContentError('sealed content is truncated');
  const n = b.readUInt32LE(0);
  if (4 + n > b.length) throw new ContentError('sealed content is truncated');
  let fields: unknown;
  try {
    fields = JSON.parse(b.toString('utf8', 4, 4 + n));
  } catch {
    throw new ContentError('sealed content is not JSON');
  }
  if (!Array.isArray(fields) || fields.length !== 5) throw new ContentError('sealed content is not five fields');
  const [session, agent, text, tags, metadata] = fields as [unknown, unknown, unknown, unknown, unknown];
  if (typeof session !== 'string' || (agent !== null && typeof agent !== 'string') || typeof text !== 'string' || typeof tags !== 'string' || typeof metadata !== 'string') {
    throw new ContentError('sealed content has fields of the wrong type');
  }
  // A copy that owns its buffer: blobToVector and the index take `.buffer` whole.
  return { session, agent, text, tags, metadata, vector: new Uint8Array(b.subarray(4 + n)) };
}

export function sealContent(sealer: Sealer, tenant: string, id: string, c: RowContent): { kid: string; sealed: Buffer } {
  const kid = sealer.activeKid;
  return { kid, sealed: sealer.seal(encodeContent(c), rowAad(tenant, id, kid)) };
}

export function openContent(sealer: Sealer, tenant: string, id: string, kid: string, sealed: Uint8Array): RowContent {
  return decodeContent(sealer.open(kid, sealed, rowAad(tenant, id, kid)));
}

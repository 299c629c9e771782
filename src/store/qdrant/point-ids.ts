/**
 * ctxd ids ↔ Qdrant point ids. Qdrant takes an unsigned 64-bit integer or a
 * UUID as a point id, and a ctxd id is a string of 1..64 characters, so every
 * id is mapped to a UUID, deterministically (every replica maps alike) and
 * with the original id also kept in the point's `cid` payload field (the
 * reverse mapping, and a check against a hash collision).
 *
 * - Native ids (src/engine/ids.ts: 'c' + 23 chars of [0-9a-z], time-ordered)
 *   map order-preservingly and bijectively: the 23 base-36 digits are one
 *   integer below 36^23 < 2^120, written as the UUID's 128 bits (so the top
 *   bit is always 0). Same-length base-36 strings compare as their values, so
 *   string order = integer order = UUID byte order.
 * - Any other id (imported) maps to the first 128 bits of its SHA-256 with the
 *   top bit set: deterministic, never equal to a native id's UUID, and
 *   collision-free in practice (2^-127 per pair; `cid` is checked on read).
 *
 * Scroll order (verified in qdrant/qdrant 1.19 source): `ExtendedPointId`
 * derives Ord with NumId before Uuid and `uuid::Uuid` ordering its 16 bytes
 * lexicographically, i.e. as a big-endian 128-bit integer
 * (lib/segment/src/types.rs); scroll sorts each shard's page and the merged
 * page by that order (lib/collection/src/collection/point_ops.rs scroll_by,
 * lib/segment/src/segment/read_view/scroll.rs) and starts at `offset`
 * inclusive (id tracker `iter_from`, `external_id >= offset`). So native ids
 * scroll in ctxd id order; foreign ids come after every native id, in the
 * (stable, arbitrary) order of their hashes.
 */
import { createHash } from 'node:crypto';

const NATIVE = /^c[0-9a-z]{23}$/;
const HEX32 = /^[0-9a-f]{32}$/;

export function isNativeId(id: string): boolean {
  return NATIVE.test(id);
}

function uuidOfHex(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function base36ToBigInt(digits: string): bigint {
  let v = 0n;
  for (const ch of digits) v = v * 36n + BigInt(parseInt(ch, 36));
  return v;
}

/** The Qdrant point id (a hyphenated lower-case UUID) of a ctxd id. */
export function pointIdOf(id: string): string {
  if (isNativeId(id)) return uuidOfHex(base36ToBigInt(id.slice(1)).toString(16).padStart(32, '0'));
  const digest = createHash('sha256').update(id, 'utf8').digest();
  digest[0] = digest[0]! | 0x80;
  return uuidOfHex(digest.subarray(0, 16).toString('hex'));
}

/** The ctxd id of a native id's point id; null for a foreign id's (its id is only in the `cid` payload field). */
export function nativeIdOfPoint(pointId: string): string | null {
  const hex = pointId.replace(/-/g, '').toLowerCase();
  if (!HEX32.test(hex) || parseInt(hex[0]!, 16) >= 8) return null;
  const digits = BigInt(`0x${hex}`).toString(36);
  if (digits.length > 23) return null;
  return `c${digits.padStart(23, '0')}`;
}

/**
 * MessagePack codec for message bodies (PROTOCOL.md §3).
 *
 * msgpackr writes any integer outside the 32-bit ranges as a float64, but the
 * protocol promises integers (ts, counts, token numbers) as MessagePack ints so
 * that typed clients decode them into integer types. `toWireValue` therefore
 * turns every safe integer beyond 32 bits into a BigInt, which msgpackr writes
 * as int64/uint64. Decoding reads 64-bit ints back as numbers when they are
 * safe (bigint otherwise, which validation rejects).
 */
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' });

const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;

function isWideInteger(v: number): boolean {
  return (v > UINT32_MAX || v < INT32_MIN) && Number.isSafeInteger(v);
}

/** Returns `value` with wide integers replaced by BigInts; shares unchanged subtrees. */
export function toWireValue(value: unknown): unknown {
  if (typeof value === 'number') return isWideInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const w = toWireValue(v);
      if (w !== v) {
        out ??= value.slice();
        out[i] = w;
      }
    }
    return out ?? value;
  }
  if (ArrayBuffer.isView(value)) return value;
  let out: Record<string, unknown> | undefined;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = obj[k];
    // Only numbers and containers can change; skip strings, booleans, nil and BigInts at once.
    if (typeof v !== 'number' && (typeof v !== 'object' || v === null)) continue;
    const w = toWireValue(v);
    if (w !== v) {
      out ??= { ...obj };
      out[k] = w;
    }
  }
  return out ?? value;
}

/** Packs a message; callers copy the result into a frame before packing again. */
export function packMessage(message: unknown): Buffer {
  return packr.pack(toWireValue(message));
}

/** True when the first byte of `body` starts a MessagePack map (fixmap, map16, map32). */
export function startsWithMap(body: Uint8Array): boolean {
  if (body.length === 0) return false;
  const b = body[0]!;
  return (b & 0xf0) === 0x80 || b === 0xde || b === 0xdf;
}

/** Decodes exactly one MessagePack value spanning the whole buffer; throws otherwise. */
export function unpackMessage(body: Uint8Array): unknown {
  return unpackr.unpack(body);
}

/**
 * MessagePack codec for message bodies (PROTOCOL.md §3). The value model is
 * JSON and nothing else: nil, booleans, numbers, UTF-8 strings, arrays and
 * maps with string keys.
 *
 * Decoding: msgpackr decodes its extensions (typed arrays, records, Dates,
 * Sets…) whatever its options say, and replaces invalid UTF-8 silently, so
 * every body is first walked by `checkWireValue` (wire-value.ts), which
 * rejects anything outside the model and enforces the limits of §3.1; only
 * then does msgpackr turn the bytes into values.
 *
 * Encoding: `toWireValue` refuses anything but plain data (a typed array
 * handed to msgpackr is packed into a slot sized in bytes but filled element
 * by element, leaving stale bytes of earlier messages in the shared buffer),
 * and turns every safe integer beyond 32 bits into a BigInt, which msgpackr
 * writes as int64: the protocol promises integers as MessagePack ints.
 */
import { Packr, Unpackr } from 'msgpackr';
import { checkWireValue, DEFAULT_WIRE_LIMITS, type WireLimits, type WireValueError } from './wire-value.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' });

const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;

/**
 * Limits on requests (PROTOCOL.md §3.1): nesting 32 deep, 1,024 keys per map,
 * 1,000,000 values in all (a full 1,000-item store_batch with rich metadata
 * stays far below; a 4 MiB frame of one-byte values cannot pass it by much).
 */
export const REQUEST_LIMITS: WireLimits = Object.freeze({ ...DEFAULT_WIRE_LIMITS, maxElements: 1_000_000 });

/**
 * Limits a client applies to answers: a page of contexts nests their metadata
 * a few levels below the root and holds many more elements than one request.
 * The frame size bounds the rest.
 */
export const ANSWER_LIMITS: WireLimits = { ...DEFAULT_WIRE_LIMITS, maxDepth: 64, maxMapKeys: 1 << 20, maxElements: 1 << 26 };

/** Nesting an encoded message may have; deeper values are refused before msgpackr recurses into them. */
const MAX_ENCODE_DEPTH = 64;

export class EncodeError extends TypeError {
  constructor(path: string, what: string) {
    super(`cannot encode ${path || 'the message'}: ${what}`);
    this.name = 'EncodeError';
  }
}

/** Raised inside the walk; the path is put together only on the way out, so encoding builds no strings. */
class EncodeFault {
  readonly path: Array<string | number> = [];
  readonly what: string;

  constructor(what: string) {
    this.what = what;
  }
}

function isWideInteger(v: number): boolean {
  return (v > UINT32_MAX || v < INT32_MIN) && Number.isSafeInteger(v);
}

/** Returns `value` with wide integers as BigInts, sharing unchanged subtrees; throws EncodeError on anything but plain data. */
export function toWireValue(value: unknown): unknown {
  try {
    return wire(value, 0);
  } catch (e) {
    if (e instanceof EncodeFault) throw new EncodeError(e.path.join('.'), e.what);
    throw e;
  }
}

function wire(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new EncodeFault('NaN and infinities are not JSON numbers');
      return isWideInteger(value) ? BigInt(value) : value;
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw new EncodeFault('integer beyond ±(2^53-1)');
      return value;
    case 'object':
      break;
    default:
      throw new EncodeFault(`${typeof value} is not plain data`);
  }
  if (value === null) return null;
  if (depth >= MAX_ENCODE_DEPTH) throw new EncodeFault(`nested deeper than ${MAX_ENCODE_DEPTH} levels`);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    let i = 0;
    try {
      for (; i < value.length; i++) {
        const v = value[i];
        const w = wire(v, depth + 1);
        if (w !== v) {
          out ??= value.slice();
          out[i] = w;
        }
      }
    } catch (e) {
      if (e instanceof EncodeFault) e.path.unshift(i);
      throw e;
    }
    return out ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new EncodeFault(`${(value as object).constructor?.name ?? 'an object'} is not plain data (only maps, arrays, strings, numbers, booleans and nil)`);
  }
  let out: Record<string, unknown> | undefined;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let k = '';
  try {
    for (let i = 0; i < keys.length; i++) {
      k = keys[i]!;
      const v = obj[k];
      // Strings, booleans and nil cannot change: skip them without a call.
      if (typeof v === 'string' || typeof v === 'boolean' || v === null) continue;
      if (v === undefined) throw new EncodeFault('undefined is not plain data');
      const w = wire(v, depth + 1);
      if (w !== v) {
        out ??= { ...obj };
        out[k] = w;
      }
    }
  } catch (e) {
    if (e instanceof EncodeFault) e.path.unshift(k);
    throw e;
  }
  return out ?? value;
}

/** Packs a message; callers copy the result into a frame before packing again. Throws EncodeError on values outside the model. */
export function packMessage(message: unknown): Buffer {
  return packr.pack(toWireValue(message));
}

/** Bytes `value` takes when packed (to cut pages to a size before building the answer). */
export function packedSize(value: unknown): number {
  return packr.pack(toWireValue(value)).length;
}

/** True when the first byte of `body` starts a MessagePack map (fixmap, map16, map32). */
export function startsWithMap(body: Uint8Array): boolean {
  if (body.length === 0) return false;
  const b = body[0]!;
  return (b & 0xf0) === 0x80 || b === 0xde || b === 0xdf;
}

export type DecodeOutcome = { readonly value: unknown; readonly error?: undefined } | { readonly error: WireValueError };

/** Checks then decodes exactly one value spanning the whole buffer. */
export function decodeMessage(body: Uint8Array, limits: WireLimits = REQUEST_LIMITS): DecodeOutcome {
  const error = checkWireValue(body, limits);
  if (error) return { error };
  return { value: unpackr.unpack(body) };
}

/** `decodeMessage` for peers that trust the sender's framing (clients, tests): throws on anything outside the model. */
export function unpackMessage(body: Uint8Array, limits: WireLimits = ANSWER_LIMITS): unknown {
  const out = decodeMessage(body, limits);
  if (out.error) throw new TypeError(`undecodable message at ${out.error.path || 'the root'}: ${out.error.message}`);
  return out.value;
}

/**
 * The wire value model: JSON, and nothing else (PROTOCOL.md §3).
 *
 * msgpackr decodes far more than the protocol uses: extension types (typed
 * arrays 0x74, records 0x72, Dates, Sets, Errors, RegExps, `undefined`...)
 * through a module-global extension table that no option turns off, `bin` as
 * Buffers, the never-used byte 0xc1 as a sentinel object; it replaces invalid
 * UTF-8 with U+FFFD, turns non-string map keys into strings, renames the key
 * `__proto__` to `__proto_` (colliding with a real `__proto_` key), keeps the
 * last of duplicate keys, and recurses without a depth bound. So the body
 * bytes are checked here BEFORE msgpackr sees them.
 *
 * `checkWireValue` walks exactly one MessagePack value spanning the whole
 * buffer and accepts only:
 *   - nil, false, true;
 *   - integers (fixint, uint8..64, int8..64) within ±(2^53−1);
 *   - float32 / float64 that are finite;
 *   - strings (fixstr, str8/16/32) of valid UTF-8 (no overlongs, no surrogates);
 *   - arrays (fixarray, array16/32);
 *   - maps (fixmap, map16/32) whose keys are strings, unique within the map,
 *     and never "__proto__".
 * Everything else is rejected: bin (0xc4–0xc6), ext (0xc7–0xc9), fixext
 * (0xd4–0xd8) and 0xc1. Every length is checked against the bytes left before
 * anything is read, declared sizes against the limits as soon as a container
 * opens (before any of it is walked), and the walk is iterative (an explicit,
 * reused stack), so no input can make it allocate, loop or recurse beyond what
 * its size and the limits allow.
 *
 * Duplicate keys are rejected, not resolved: decoders disagree on which one
 * wins (msgpackr and JSON.parse keep the last, others the first or fail), so
 * a signed body with two `tenant` or `level` keys could mean different things
 * to the server and to whatever inspects it. They are looked for when the map
 * closes (pairwise in maps of ≤ 16 keys, in a seeded hash table in larger
 * ones), so a duplicate is reported after any problem inside the map's values.
 *
 * "__proto__" is rejected although msgpackr guards it: in mapsAsObjects mode
 * it renames the key to "__proto_" (no prototype pollution), which silently
 * merges it with a real "__proto_" key (last wins); and as an own key (which
 * JSON.parse of stored data would make) it is a prototype-pollution hazard
 * for any code that copies maps with `obj[k] = v` or Object.assign.
 *
 * `checkPlainValue` (plain-value.ts) applies the same rules to a JS value (data loaded from
 * disk, outgoing messages before encoding).
 *
 * Errors carry `path`: the dotted path from the root of the walked value to
 * the offending value or key (map keys, array indices as numbers; root = ''),
 * built only when an error occurs. When the offending thing is a map key that
 * cannot be named (not a string, not valid UTF-8, truncated), the path is the
 * map's.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';

export interface WireLimits {
  /** Containers nested at most this deep; the top-level map is depth 1, scalars add none. */
  maxDepth: number;
  /** Keys in one map at most. */
  maxMapKeys: number;
  /** Values in the whole message at most: array items, map keys and map values (the root not counted). */
  maxElements: number;
  /** UTF-8 bytes in one string (values and keys) at most; unset = bounded only by the frame size. */
  maxStringBytes?: number;
}

export type WireLimitKind = 'depth' | 'keys' | 'elements' | 'string';

export interface WireValueError {
  readonly message: string;
  /** Dotted path from the root of the walked value ('' for the root itself). */
  readonly path: string;
  /** Set when a configured limit was exceeded. */
  readonly limit?: WireLimitKind;
}

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_MAP_KEYS = 1024;
export const DEFAULT_MAX_ELEMENTS = 100_000;

export const DEFAULT_WIRE_LIMITS: Readonly<WireLimits> = Object.freeze({
  maxDepth: DEFAULT_MAX_DEPTH,
  maxMapKeys: DEFAULT_MAX_MAP_KEYS,
  maxElements: DEFAULT_MAX_ELEMENTS,
});

const JSON_ONLY = 'values are JSON (nil, bool, number, string, array, map)';
export const PLAIN_ONLY = 'values are JSON (null, boolean, number, string, array, plain object)';
const MSG_TRUNCATED = 'value truncated';
const MSG_UTF8 = 'string is not valid UTF-8';
export const MSG_INT_RANGE = 'integer out of the ±2^53 range';
const MSG_FLOAT = 'float is NaN or infinite';
const MSG_KEY_NOT_STRING = 'map key is not a string';
export const MSG_PROTO = 'map key "__proto__" is not allowed';
const MSG_DUPLICATE = 'duplicate map key';

/* ------------------------------------------------------------------------ */
/* MessagePack bytes                                                         */
/* ------------------------------------------------------------------------ */

// The walker's state. Module-level and reused: the walk is synchronous, calls
// no user code and is not re-entrant. Arrays grow on demand (doubling).

// The explicit stack, one slot per open container.
let cap = 0;
/** 1 for a map, 0 for an array. */
let fMap = new Uint8Array(0);
/** Entries (items or key/value pairs) the container declares. */
let fCount = new Float64Array(0);
/** The entry being read (= entries completed so far). */
let fIndex = new Float64Array(0);
/** Maps: the current key's byte offset and length; length −1 while no valid key is read. */
let fKeyStart = new Float64Array(0);
let fKeyLen = new Float64Array(0);
/** Maps: where their keys start on the key stack. */
let fKeyBase = new Float64Array(0);

// The key stack: offset, length and hash of every key of the open maps, checked
// for duplicates when their map closes.
let kCap = 0;
let kTop = 0;
let kStart = new Float64Array(0);
let kLen = new Float64Array(0);
let kHash = new Int32Array(0);

// The open-addressing table used for maps of more than SMALL_MAP keys: a slot
// is in use when its stamp equals the current generation (no clearing).
let tCap = 0;
let tStamp = new Int32Array(0);
let tKey = new Int32Array(0);
let generation = 0;

/** Duplicate keys are looked for pairwise in maps of at most this many keys, in a hash table in larger ones. */
const SMALL_MAP = 16;
/** Same-hash different-key pairs tolerated in one map's table before it falls back to a Set (hash flooding). */
const MAX_FALSE_MATCHES = 16;
/** Strings up to this many bytes are checked in JS; longer ones by the native `isUtf8` (cheaper past its call cost). */
const JS_UTF8_MAX = 48;
/** Per-process seed of the key hash, so that colliding keys cannot be prepared in advance. */
const HASH_SEED = randomBytes(4).readInt32LE(0);

function growF64(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}

function growStack(min: number): void {
  let n = Math.max(cap * 2, 16);
  while (n < min) n *= 2;
  const m = new Uint8Array(n);
  m.set(fMap);
  fMap = m;
  fCount = growF64(fCount, n);
  fIndex = growF64(fIndex, n);
  fKeyStart = growF64(fKeyStart, n);
  fKeyLen = growF64(fKeyLen, n);
  fKeyBase = growF64(fKeyBase, n);
  cap = n;
}

function growKeys(min: number): void {
  let n = Math.max(kCap * 2, 256);
  while (n < min) n *= 2;
  kStart = growF64(kStart, n);
  kLen = growF64(kLen, n);
  const h = new Int32Array(n);
  h.set(kHash);
  kHash = h;
  kCap = n;
}

growStack(DEFAULT_MAX_DEPTH + 1);
growKeys(1024);

// Per walk: the input and a Buffer view of it (made only when needed).
let src: Uint8Array = new Uint8Array(0);
let srcBuffer: Buffer | null = null;
let depth = 0;
const EMPTY = new Uint8Array(0);

function asBuffer(): Buffer {
  srcBuffer ??= Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  return srcBuffer;
}

/** Scratch beyond this many entries (raised limits, huge maps) is released after the walk rather than kept. */
const KEEP_SCRATCH = 1 << 16;

/** Drops the references the walk holds. */
function finish(): void {
  depth = 0;
  kTop = 0;
  src = EMPTY;
  srcBuffer = null;
  if (kCap > KEEP_SCRATCH) {
    kCap = 0;
    kStart = kLen = new Float64Array(0);
    kHash = new Int32Array(0);
    growKeys(1024);
  }
  if (tCap > KEEP_SCRATCH) {
    tCap = 0;
    tStamp = tKey = new Int32Array(0);
  }
}

function pathOfStack(): string {
  // Every open container contributes its current entry, except a map whose key
  // is not read (an error in the key itself: only the innermost map can be so).
  let path = '';
  for (let i = 0; i < depth; i++) {
    let part: string;
    if (fMap[i] === 1) {
      if (fKeyLen[i]! < 0) break;
      part = asBuffer().toString('utf8', fKeyStart[i]!, fKeyStart[i]! + fKeyLen[i]!);
    } else {
      part = String(fIndex[i]);
    }
    path = i === 0 ? part : `${path}.${part}`;
  }
  return path;
}

function fail(message: string, limit?: WireLimitKind): WireValueError {
  const path = pathOfStack();
  finish();
  return limit ? { message, path, limit } : { message, path };
}

/** True when src[start, start+len) is well-formed UTF-8 (the same definition as `isUtf8`). */
function utf8Valid(start: number, len: number): boolean {
  if (len > JS_UTF8_MAX) return isUtf8(new Uint8Array(src.buffer, src.byteOffset + start, len));
  const end = start + len;
  let i = start;
  while (i < end) {
    const c = src[i]!;
    if (c < 0x80) {
      i++;
    } else if (c < 0xc2) {
      return false; // a continuation byte, or an overlong 2-byte lead (0xc0, 0xc1)
    } else if (c < 0xe0) {
      if (i + 1 >= end || (src[i + 1]! & 0xc0) !== 0x80) return false;
      i += 2;
    } else if (c < 0xf0) {
      if (i + 2 >= end) return false;
      const c1 = src[i + 1]!;
      // 0xe0: no overlongs (second byte ≥ 0xa0); 0xed: no UTF-16 surrogates (second byte ≤ 0x9f).
      if (c === 0xe0 ? c1 < 0xa0 || c1 > 0xbf : c === 0xed ? c1 < 0x80 || c1 > 0x9f : (c1 & 0xc0) !== 0x80) return false;
      if ((src[i + 2]! & 0xc0) !== 0x80) return false;
      i += 3;
    } else if (c < 0xf5) {
      if (i + 3 >= end) return false;
      const c1 = src[i + 1]!;
      // 0xf0: no overlongs (second byte ≥ 0x90); 0xf4: nothing past U+10FFFF (second byte ≤ 0x8f).
      if (c === 0xf0 ? c1 < 0x90 || c1 > 0xbf : c === 0xf4 ? c1 < 0x80 || c1 > 0x8f : (c1 & 0xc0) !== 0x80) return false;
      if ((src[i + 2]! & 0xc0) !== 0x80 || (src[i + 3]! & 0xc0) !== 0x80) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

function bytesEqual(a: number, b: number, len: number): boolean {
  if (len > 32) return asBuffer().compare(asBuffer(), a, a + len, b, b + len) === 0;
  for (let i = 0; i < len; i++) if (src[a + i] !== src[b + i]) return false;
  return true;
}

/** Seeded FNV-1a over the key's bytes, finished with murmur3's fmix32. */
function keyHash(start: number, len: number): number {
  let h = HASH_SEED ^ len;
  for (let i = start, end = start + len; i < end; i++) h = Math.imul(h ^ src[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function sameKey(i: number, j: number): boolean {
  return kHash[i] === kHash[j] && kLen[i] === kLen[j] && bytesEqual(kStart[i]!, kStart[j]!, kLen[i]!);
}

/**
 * Looks for a repeated key among the `n` keys from `base` on the key stack;
 * returns the index of the first repeat (its second occurrence), or −1.
 */
function findDuplicate(base: number, n: number): number {
  const end = base + n;
  if (n <= SMALL_MAP) {
    for (let i = base + 1; i < end; i++) {
      for (let j = base; j < i; j++) if (sameKey(i, j)) return i;
    }
    return -1;
  }
  let size = 64;
  while (size < 2 * n) size *= 2;
  if (size > tCap) {
    tStamp = new Int32Array(size);
    tKey = new Int32Array(size);
    tCap = size;
    generation = 0;
  }
  if (++generation === 0x7fffffff) {
    tStamp.fill(0);
    generation = 1;
  }
  const gen = generation;
  const mask = size - 1;
  let falseMatches = 0;
  for (let i = base; i < end; i++) {
    const h = kHash[i]!;
    let slot = h & mask;
    while (tStamp[slot] === gen) {
      const j = tKey[slot]!;
      if (kHash[j] === h) {
        if (kLen[i] === kLen[j] && bytesEqual(kStart[i]!, kStart[j]!, kLen[i]!)) return i;
        if (++falseMatches > MAX_FALSE_MATCHES) return findDuplicateBySet(base, n);
      }
      slot = (slot + 1) & mask;
    }
    tStamp[slot] = gen;
    tKey[slot] = i;
  }
  return -1;
}

/** The fallback when the hash table sees too many collisions: V8's own (seeded) string hashing. */
function findDuplicateBySet(base: number, n: number): number {
  // latin1 maps each byte to one char, so equal strings ⇔ equal bytes.
  const b = asBuffer();
  const seen = new Set<string>();
  for (let i = base; i < base + n; i++) {
    const key = b.toString('latin1', kStart[i]!, kStart[i]! + kLen[i]!);
    if (seen.has(key)) return i;
    seen.add(key);
  }
  return -1;
}

/** Error message (and limit) of the last failed `readKey`/`checkString`. */
let pendingMessage = '';
let pendingLimit: WireLimitKind | undefined;

/** The string found by `strHeader`: where its bytes start and how many. */
let strStart = 0;
let strLen = 0;

/**
 * Reads a string header at `pos` into strStart/strLen: true if it is one,
 * false if `pos` holds another type, null if the header is truncated.
 */
function strHeader(pos: number, end: number): boolean | null {
  const b = src[pos]!;
  if (b >= 0xa0 && b <= 0xbf) {
    strStart = pos + 1;
    strLen = b & 0x1f;
  } else if (b === 0xd9) {
    if (pos + 2 > end) return null;
    strStart = pos + 2;
    strLen = src[pos + 1]!;
  } else if (b === 0xda) {
    if (pos + 3 > end) return null;
    strStart = pos + 3;
    strLen = (src[pos + 1]! << 8) | src[pos + 2]!;
  } else if (b === 0xdb) {
    if (pos + 5 > end) return null;
    strStart = pos + 5;
    strLen = src[pos + 1]! * 0x1000000 + ((src[pos + 2]! << 16) | (src[pos + 3]! << 8) | src[pos + 4]!);
  } else {
    return false;
  }
  return true;
}

/** Checks the string body at strStart/strLen; returns the position after it, or −1. */
function checkString(end: number, maxStr: number): number {
  if (strLen > end - strStart) {
    pendingMessage = MSG_TRUNCATED;
    return -1;
  }
  if (strLen > maxStr) {
    pendingMessage = `string longer than ${maxStr} bytes`;
    pendingLimit = 'string';
    return -1;
  }
  if (!utf8Valid(strStart, strLen)) {
    pendingMessage = MSG_UTF8;
    return -1;
  }
  return strStart + strLen;
}

/** Reads the key of the next entry of the map at `top`; returns the position after it, or −1. */
function readKey(pos: number, end: number, top: number, maxStr: number): number {
  fKeyLen[top] = -1; // until the key is read and valid: a key error's path is the map's
  if (pos >= end) {
    pendingMessage = MSG_TRUNCATED;
    return -1;
  }
  const h = strHeader(pos, end);
  if (h === null) {
    pendingMessage = MSG_TRUNCATED;
    return -1;
  }
  if (!h) {
    pendingMessage = MSG_KEY_NOT_STRING;
    return -1;
  }
  const next = checkString(end, maxStr);
  if (next < 0) return -1;
  const start = strStart;
  const len = strLen;
  fKeyStart[top] = start;
  fKeyLen[top] = len;
  if (
    len === 9 &&
    src[start] === 0x5f && src[start + 1] === 0x5f && src[start + 2] === 0x70 && src[start + 3] === 0x72 &&
    src[start + 4] === 0x6f && src[start + 5] === 0x74 && src[start + 6] === 0x6f && src[start + 7] === 0x5f && src[start + 8] === 0x5f
  ) {
    pendingMessage = MSG_PROTO;
    return -1;
  }
  if (kTop >= kCap) growKeys(kTop + 1);
  kStart[kTop] = start;
  kLen[kTop] = len;
  kHash[kTop] = keyHash(start, len);
  kTop++;
  return next;
}

function failPending(): WireValueError {
  const limit = pendingLimit;
  pendingLimit = undefined;
  return fail(pendingMessage, limit);
}

function extMessage(typeByte: number | undefined): string {
  if (typeByte === undefined) return `extension types are not allowed: ${JSON_ONLY}`;
  const hex = `0x${typeByte.toString(16).padStart(2, '0')}`;
  const signed = typeByte >= 0x80 ? ` (${typeByte - 0x100})` : '';
  return `extension type ${hex}${signed} is not allowed: ${JSON_ONLY}`;
}

/**
 * Checks that `buf` holds exactly one MessagePack value of the JSON model
 * within `limits`; returns null when it does, the first problem otherwise.
 * Never throws (short of a bug), never reads past the buffer.
 */
export function checkWireValue(buf: Uint8Array, limits: WireLimits = DEFAULT_WIRE_LIMITS): WireValueError | null {
  const maxDepth = limits.maxDepth;
  const maxKeys = limits.maxMapKeys;
  const maxElements = limits.maxElements;
  const maxStr = limits.maxStringBytes ?? Infinity;
  const end = buf.length;
  src = buf;
  srcBuffer = null;
  depth = 0;
  pendingLimit = undefined;
  let pos = 0;
  let elements = 0;

  for (;;) {
    // ---- one value at `pos`
    if (pos >= end) return fail(MSG_TRUNCATED);
    const b = buf[pos]!;
    let n = -1; // entries of a container that opens here
    let isMap = false;
    if (b < 0x80 || b >= 0xe0) {
      pos += 1; // positive / negative fixint
    } else if (b >= 0xa0 && b <= 0xbf) {
      strStart = pos + 1;
      strLen = b & 0x1f;
      pos = checkString(end, maxStr);
      if (pos < 0) return failPending();
    } else if (b <= 0x8f) {
      n = b & 0x0f;
      isMap = true;
      pos += 1;
    } else if (b <= 0x9f) {
      n = b & 0x0f;
      pos += 1;
    } else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          pos += 1;
          break;
        case 0xc1:
          return fail(`byte 0xc1 is never used in MessagePack: ${JSON_ONLY}`);
        case 0xc4:
        case 0xc5:
        case 0xc6:
          return fail(`binary values are not allowed: ${JSON_ONLY}`);
        case 0xc7:
          return fail(extMessage(pos + 2 < end ? buf[pos + 2] : undefined));
        case 0xc8:
          return fail(extMessage(pos + 3 < end ? buf[pos + 3] : undefined));
        case 0xc9:
          return fail(extMessage(pos + 5 < end ? buf[pos + 5] : undefined));
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return fail(extMessage(pos + 1 < end ? buf[pos + 1] : undefined));
        case 0xca: // float32: exponent all ones = NaN or ±Infinity
          if (pos + 5 > end) return fail(MSG_TRUNCATED);
          if ((buf[pos + 1]! & 0x7f) === 0x7f && (buf[pos + 2]! & 0x80) === 0x80) return fail(MSG_FLOAT);
          pos += 5;
          break;
        case 0xcb: // float64
          if (pos + 9 > end) return fail(MSG_TRUNCATED);
          if ((buf[pos + 1]! & 0x7f) === 0x7f && (buf[pos + 2]! & 0xf0) === 0xf0) return fail(MSG_FLOAT);
          pos += 9;
          break;
        case 0xcc:
        case 0xd0:
          if (pos + 2 > end) return fail(MSG_TRUNCATED);
          pos += 2;
          break;
        case 0xcd:
        case 0xd1:
          if (pos + 3 > end) return fail(MSG_TRUNCATED);
          pos += 3;
          break;
        case 0xce:
        case 0xd2:
          if (pos + 5 > end) return fail(MSG_TRUNCATED);
          pos += 5;
          break;
        case 0xcf: {
          // uint64 ≤ 2^53−1: the high 32 bits ≤ 0x001fffff
          if (pos + 9 > end) return fail(MSG_TRUNCATED);
          if (buf[pos + 1] !== 0 || buf[pos + 2]! > 0x1f) return fail(MSG_INT_RANGE);
          pos += 9;
          break;
        }
        case 0xd3: {
          // int64 within ±(2^53−1): high 32 bits (signed) in [−0x200000, 0x1fffff], and not exactly −2^53
          if (pos + 9 > end) return fail(MSG_TRUNCATED);
          const hi = (buf[pos + 1]! << 24) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!;
          if (hi > 0x1fffff || hi < -0x200000) return fail(MSG_INT_RANGE);
          if (hi === -0x200000 && (buf[pos + 5]! | buf[pos + 6]! | buf[pos + 7]! | buf[pos + 8]!) === 0) return fail(MSG_INT_RANGE);
          pos += 9;
          break;
        }
        case 0xd9:
        case 0xda:
        case 0xdb:
          if (strHeader(pos, end) === null) return fail(MSG_TRUNCATED);
          pos = checkString(end, maxStr);
          if (pos < 0) return failPending();
          break;
        case 0xdc:
        case 0xde:
          if (pos + 3 > end) return fail(MSG_TRUNCATED);
          n = (buf[pos + 1]! << 8) | buf[pos + 2]!;
          isMap = b === 0xde;
          pos += 3;
          break;
        case 0xdd:
        case 0xdf:
          if (pos + 5 > end) return fail(MSG_TRUNCATED);
          n = buf[pos + 1]! * 0x1000000 + ((buf[pos + 2]! << 16) | (buf[pos + 3]! << 8) | buf[pos + 4]!);
          isMap = b === 0xdf;
          pos += 5;
          break;
        default:
          // unreachable: every byte value is handled above
          return fail(`unknown MessagePack type byte 0x${b.toString(16)}`);
      }
    }

    // ---- a container opens: check it, then go read its first entry
    if (n >= 0) {
      if (depth >= maxDepth) return fail(`nesting deeper than ${maxDepth} levels`, 'depth');
      if (isMap && n > maxKeys) return fail(`map with more than ${maxKeys} keys`, 'keys');
      elements += isMap ? 2 * n : n;
      if (elements > maxElements) return fail(`more than ${maxElements} elements`, 'elements');
      // Each item needs at least one byte, each map entry two.
      if ((isMap ? 2 * n : n) > end - pos) return fail(MSG_TRUNCATED);
      if (n > 0) {
        if (depth >= cap) growStack(depth + 1);
        const top = depth++;
        fMap[top] = isMap ? 1 : 0;
        fCount[top] = n;
        fIndex[top] = 0;
        if (isMap) {
          fKeyBase[top] = kTop;
          pos = readKey(pos, end, top, maxStr);
          if (pos < 0) return failPending();
        }
        continue;
      }
    }

    // ---- a value is complete: move to the next entry, closing finished containers
    for (;;) {
      if (depth === 0) {
        if (pos !== end) return fail('trailing bytes after the value');
        finish();
        return null;
      }
      const top = depth - 1;
      const index = fIndex[top]! + 1;
      fIndex[top] = index;
      if (index < fCount[top]!) {
        if (fMap[top] === 1) {
          pos = readKey(pos, end, top, maxStr);
          if (pos < 0) return failPending();
        }
        break;
      }
      if (fMap[top] === 1) {
        const base = fKeyBase[top]!;
        const dup = findDuplicate(base, kTop - base);
        if (dup >= 0) {
          fKeyStart[top] = kStart[dup]!;
          fKeyLen[top] = kLen[dup]!;
          return fail(MSG_DUPLICATE);
        }
        kTop = base;
      }
      depth = top;
    }
  }
}

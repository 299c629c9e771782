/**
 * The wire's value model (PROTOCOL.md §3.1) applied to a JS value instead of
 * bytes: data loaded from disk, outgoing messages. The same rules and limits
 * as `checkWireValue` (wire-value.ts).
 */
import { DEFAULT_WIRE_LIMITS, PLAIN_ONLY, MSG_INT_RANGE, MSG_PROTO, type WireLimitKind, type WireLimits, type WireValueError } from './wire-value.ts';

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIGINT = -MAX_SAFE_BIGINT;
const isWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

function describeObject(v: object): string {
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) {
    const name = Buffer.isBuffer(v) ? 'Buffer' : Object.prototype.toString.call(v).slice(8, -1);
    return `binary values (${name}) are not allowed: ${PLAIN_ONLY}`;
  }
  let name: string;
  if (Array.isArray(v)) {
    name = 'array subclass';
  } else {
    const tag = Object.prototype.toString.call(v).slice(8, -1);
    if (tag !== 'Object') {
      name = tag; // Date, Map, Set, RegExp, Error, Promise, ...
    } else {
      const proto = Object.getPrototypeOf(v) as { constructor?: unknown } | null;
      const ctor = proto?.constructor;
      name = typeof ctor === 'function' && ctor.name ? `instance of ${ctor.name}` : 'object with a custom prototype';
    }
  }
  return `${name} is not allowed: ${PLAIN_ONLY}`;
}

/** Why a non-container value is not allowed, or null if it is. */
function checkScalar(v: unknown, maxStr: number): { message: string; limit?: WireLimitKind } | null {
  switch (typeof v) {
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(v) ? null : { message: 'number is NaN or infinite' };
    case 'string':
      if (!isWellFormed.call(v)) return { message: 'string is not well-formed UTF-16 (lone surrogate)' };
      if (maxStr !== Infinity && v.length > maxStr / 3 && Buffer.byteLength(v, 'utf8') > maxStr) {
        return { message: `string longer than ${maxStr} bytes`, limit: 'string' };
      }
      return null;
    case 'bigint':
      return v >= MIN_SAFE_BIGINT && v <= MAX_SAFE_BIGINT ? null : { message: MSG_INT_RANGE };
    case 'undefined':
      return { message: 'undefined is not allowed (omit the key or use null)' };
    case 'function':
      return { message: `functions are not allowed: ${PLAIN_ONLY}` };
    case 'symbol':
      return { message: `symbols are not allowed: ${PLAIN_ONLY}` };
    default:
      return null; // objects are handled by the caller
  }
}

/**
 * The rules of `checkWireValue` for an already-built JS value: null, booleans,
 * finite numbers, bigints within ±(2^53−1), well-formed strings, plain arrays
 * and plain objects (prototype Object.prototype or null) without a
 * "__proto__" own key, within `limits`. `undefined` is rejected anywhere
 * (msgpackr would write it as an extension), so are typed arrays, Buffers,
 * Dates, Maps, Sets, class instances, functions and symbols. Walks iteratively
 * and stops at `maxDepth`, so cycles and deep nesting fail cleanly.
 * Symbol-keyed and non-enumerable properties are ignored (encoders skip them).
 */
export function checkPlainValue(value: unknown, limits: WireLimits = DEFAULT_WIRE_LIMITS): WireValueError | null {
  const maxDepth = limits.maxDepth;
  const maxKeys = limits.maxMapKeys;
  const maxElements = limits.maxElements;
  const maxStr = limits.maxStringBytes ?? Infinity;
  // Open containers: the container, its keys (objects) and the entry being checked.
  const containers: unknown[] = [];
  const keyLists: (string[] | null)[] = [];
  const indices: number[] = [];
  let depth = 0;
  let elements = 0;
  let v: unknown = value;

  const failAt = (message: string, limit?: WireLimitKind): WireValueError => {
    let path = '';
    for (let i = 0; i < depth; i++) {
      const keys = keyLists[i];
      const part = keys ? keys[indices[i]!]! : String(indices[i]);
      path = i === 0 ? part : `${path}.${part}`;
    }
    return limit ? { message, path, limit } : { message, path };
  };

  for (;;) {
    if (v !== null && typeof v === 'object') {
      let keys: string[] | null = null;
      let n: number;
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return failAt(describeObject(v));
        n = v.length;
        if (depth >= maxDepth) return failAt(`nesting deeper than ${maxDepth} levels`, 'depth');
        elements += n;
      } else {
        const proto = Object.getPrototypeOf(v) as unknown;
        if (proto !== Object.prototype && proto !== null) return failAt(describeObject(v));
        if (depth >= maxDepth) return failAt(`nesting deeper than ${maxDepth} levels`, 'depth');
        keys = Object.keys(v);
        n = keys.length;
        if (n > maxKeys) return failAt(`map with more than ${maxKeys} keys`, 'keys');
        elements += 2 * n;
      }
      if (elements > maxElements) return failAt(`more than ${maxElements} elements`, 'elements');
      if (n > 0) {
        containers[depth] = v;
        keyLists[depth] = keys;
        indices[depth] = -1;
        depth++;
      }
    } else if (v !== null) {
      const problem = checkScalar(v, maxStr);
      if (problem) return failAt(problem.message, problem.limit);
    }

    // Next entry, closing finished containers.
    for (;;) {
      if (depth === 0) return null;
      const top = depth - 1;
      const index = indices[top]! + 1;
      const keys = keyLists[top]!;
      const container = containers[top] as Record<string, unknown>;
      if (keys ? index < keys.length : index < (container as unknown as unknown[]).length) {
        indices[top] = index;
        if (keys) {
          const key = keys[index]!;
          if (key === '__proto__') return failAt(MSG_PROTO);
          if (!isWellFormed.call(key)) {
            const message = 'map key is not well-formed UTF-16 (lone surrogate)';
            depth--; // the key cannot be named: the path is the object's
            return failAt(message);
          }
          if (maxStr !== Infinity && key.length > maxStr / 3 && Buffer.byteLength(key, 'utf8') > maxStr) {
            return failAt(`string longer than ${maxStr} bytes`, 'string');
          }
          v = container[key];
        } else {
          v = (container as unknown as unknown[])[index];
        }
        break;
      }
      containers[top] = undefined;
      depth = top;
    }
  }
}

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { Packr, Unpackr } from 'msgpackr';
import { checkWireValue, DEFAULT_WIRE_LIMITS, type WireLimits } from '../../src/protocol/wire-value.ts';
import { checkPlainValue } from '../../src/protocol/plain-value.ts';
import { packMessage, toWireValue } from '../../src/protocol/codec.ts';
import { validVectors } from '../helpers/vectors.ts';

/** The packer of codec.ts, and one with msgpackr's extra types turned on (what an attacker can send anyway). */
const codecPackr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: false });
const moreTypesPackr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: true });
/** The unpacker of codec.ts. */
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'number' });

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const catList = (parts: (Buffer | string)[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? hex(p) : p)));
const cat = (...parts: (Buffer | string)[]): Buffer => catList(parts);
const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');
/** A fixstr/str8/str16 holding `s` (or raw bytes). */
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  if (b.length < 32) return cat(Buffer.from([0xa0 | b.length]), b);
  if (b.length < 256) return cat(Buffer.from([0xd9, b.length]), b);
  return cat(`da${u16(b.length)}`, b);
}
/** A map header for `n` entries (fixmap, map16 or map32). */
const mapHeader = (n: number, kind: 'fix' | '16' | '32' = n < 16 ? 'fix' : '16'): string =>
  kind === 'fix' ? (0x80 | n).toString(16) : kind === '16' ? `de${u16(n)}` : `df${u32(n)}`;
const arrayHeader = (n: number, kind: 'fix' | '16' | '32' = n < 16 ? 'fix' : '16'): string =>
  kind === 'fix' ? (0x90 | n).toString(16) : kind === '16' ? `dc${u16(n)}` : `dd${u32(n)}`;
/** A map of string keys to already-encoded values. */
function map(entries: [string | Buffer, Buffer | string][], kind?: 'fix' | '16' | '32'): Buffer {
  return catList([mapHeader(entries.length, kind), ...entries.flatMap(([k, v]) => [str(k), typeof v === 'string' ? hex(v) : v])]);
}
/** `value` nested inside { a: { b: [1, value] } }: its path is "a.b.1". */
const nested = (value: Buffer | string): Buffer => cat('81 a161 81 a162 92 01', value);

function expectAccepted(buf: Uint8Array, limits?: WireLimits): void {
  expect(checkWireValue(buf, limits)).toBeNull();
}

function expectRejected(buf: Uint8Array, expected: { path: string; message?: RegExp | string; limit?: string }, limits?: WireLimits) {
  const err = checkWireValue(buf, limits);
  expect(err, 'expected a rejection').not.toBeNull();
  expect(err!.path).toBe(expected.path);
  if (expected.message instanceof RegExp) expect(err!.message).toMatch(expected.message);
  else if (expected.message) expect(err!.message).toBe(expected.message);
  expect(err!.limit).toBe(expected.limit);
  return err!;
}

/** Nested containers, `levels` deep, innermost holding nil. */
const deepMaps = (levels: number): Buffer => cat('81 a161'.repeat(levels - 1), '81 a161 c0');
const deepArrays = (levels: number): Buffer => cat('91'.repeat(levels), 'c0');

const hasProtoKey = (v: unknown): boolean =>
  v !== null && typeof v === 'object' && (Object.hasOwn(v, '__proto__') || Object.values(v).some(hasProtoKey));

/** One of every accepted encoding, in one map. */
const RICH = map([
  ['nil', 'c0'],
  ['false', 'c2'],
  ['true', 'c3'],
  ['posfixint', '7f'],
  ['negfixint', 'e0'],
  ['uint8', 'cc ff'],
  ['uint16', 'cd ffff'],
  ['uint32', 'ce ffffffff'],
  ['uint64', 'cf 001fffff ffffffff'],
  ['int8', 'd0 80'],
  ['int16', 'd1 8000'],
  ['int32', 'd2 80000000'],
  ['int64', 'd3 ffe00000 00000001'],
  ['float32', 'ca 7f7fffff'],
  ['float64', 'cb 3ff8000000000000'],
  ['fixstr', str('héllo')],
  ['str8', cat('d9 03', Buffer.from('abc'))],
  ['str16', cat('da 0004', Buffer.from('😀'))],
  ['str32', cat('db 00000002', Buffer.from('ok'))],
  ['fixarray', '93 01 a178 c0'],
  ['array16', 'dc 0002 01 02'],
  ['array32', 'dd 00000001 c3'],
  ['fixmap', '81 a17a 01'],
  ['map16', 'de 0001 a17a 02'],
  ['map32', cat('df 00000002', str('k1'), '01', str('k2'), '80')],
  ['empty', '90'],
]);

describe('checkWireValue: accepted values', () => {
  it('accepts one of every accepted encoding, and msgpackr decodes it', () => {
    expectAccepted(RICH);
    const decoded = unpackr.unpack(RICH) as Record<string, unknown>;
    expect(decoded.uint64).toBe(Number.MAX_SAFE_INTEGER);
    expect(decoded.int64).toBe(-Number.MAX_SAFE_INTEGER);
    expect(checkPlainValue(decoded)).toBeNull();
  });

  it('accepts the bodies of the golden vectors', () => {
    for (const v of validVectors()) {
      const frame = Buffer.from(v.frame_hex, 'hex');
      const body = frame.subarray(6 + frame[5]!, frame.length - 32);
      expect(checkWireValue(body), v.name).toBeNull();
    }
  });

  it('accepts the packing of any JSON value (msgpackr, and codec.ts packMessage)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), (value) => {
        const expected = hasProtoKey(value) ? 'reject' : 'accept';
        for (const buf of [codecPackr.pack(value), packMessage(value)]) {
          const err = checkWireValue(buf);
          if (expected === 'accept') expect(err).toBeNull();
          else expect(err?.message).toMatch(/__proto__/);
        }
        if (expected === 'accept') expect(checkPlainValue(value)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('accepts nested maps, safe integers of every width, floats, unicode (large maps too)', () => {
    const scalar = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => Math.fround(f)),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
    );
    const key = fc.string({ maxLength: 40 }).filter((k) => k !== '__proto__');
    const { value } = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
      value: fc.oneof({ depthSize: 'small', maxDepth: 8 }, scalar, tie('array'), tie('object')),
      array: fc.array(tie('value'), { maxLength: 6 }),
      object: fc.oneof(
        fc.dictionary(key, tie('value'), { maxKeys: 20, noNullPrototype: true }),
        fc.dictionary(key, scalar, { minKeys: 17, maxKeys: 200, noNullPrototype: true }),
      ),
    }));
    fc.assert(
      fc.property(value, (v) => {
        const wire = toWireValue(v);
        const a = codecPackr.pack(wire);
        expect(checkWireValue(a)).toBeNull();
        expect(checkPlainValue(v)).toBeNull();
        expect(checkPlainValue(wire)).toBeNull();
        expect(JSON.stringify(unpackr.unpack(a))).toBe(JSON.stringify(v));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts input that is a plain Uint8Array or a Buffer slice at an offset', () => {
    const big = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key-${i}`, 'é'.repeat(i * 3)]));
    const packed = codecPackr.pack({ big, small: { a: 1 } });
    const pool = Buffer.alloc(packed.length + 100, 0xc1);
    packed.copy(pool, 37);
    expectAccepted(pool.subarray(37, 37 + packed.length));
    expectAccepted(new Uint8Array(pool.buffer, pool.byteOffset + 37, packed.length));
    expectAccepted(Uint8Array.from(packed));
  });
});

describe('checkWireValue: rejected type bytes', () => {
  const cases: [string, string, RegExp][] = [
    ['0xc1 (never used)', 'c1', /^byte 0xc1 is never used/],
    ['bin8 (0xc4)', 'c4 01 00', /^binary values are not allowed/],
    ['bin16 (0xc5)', 'c5 0001 00', /^binary values are not allowed/],
    ['bin32 (0xc6)', 'c6 00000001 00', /^binary values are not allowed/],
    ['ext8 (0xc7)', 'c7 01 74 00', /^extension type 0x74 is not allowed: values are JSON/],
    ['ext16 (0xc8)', 'c8 0001 74 00', /^extension type 0x74 is not allowed/],
    ['ext32 (0xc9)', 'c9 00000001 74 00', /^extension type 0x74 is not allowed/],
    ['fixext1 (0xd4)', 'd4 72 00', /^extension type 0x72 is not allowed/],
    ['fixext2 (0xd5)', 'd5 72 0000', /^extension type 0x72 is not allowed/],
    ['fixext4 (0xd6)', 'd6 ff 00000000', /^extension type 0xff \(-1\) is not allowed/],
    ['fixext8 (0xd7)', 'd7 ff 0000000000000000', /^extension type 0xff \(-1\) is not allowed/],
    ['fixext16 (0xd8)', 'd8 01 00000000000000000000000000000000', /^extension type 0x01 is not allowed/],
  ];
  for (const [name, bytes, message] of cases) {
    it(`rejects ${name} at top level`, () => {
      expectRejected(hex(bytes), { path: '', message });
    });
    it(`rejects ${name} nested inside a map and an array, with its path`, () => {
      expectRejected(nested(bytes), { path: 'a.b.1', message });
    });
    it(`rejects ${name} as a map value after other entries`, () => {
      expectRejected(map([['ok', '01'], ['bad', bytes], ['later', '02']]), { path: 'bad', message });
    });
  }

  it('names the extension type even when the ext body is truncated, and fails without its type byte', () => {
    expectRejected(hex('c7 10 74'), { path: '', message: /^extension type 0x74/ });
    expectRejected(hex('c7 10'), { path: '', message: /^extension types are not allowed/ });
    expectRejected(hex('d4'), { path: '', message: /^extension types are not allowed/ });
  });
});

describe('checkWireValue: what msgpackr would otherwise decode', () => {
  it('rejects a typed array (ext 0x74) at metadata.x; msgpackr itself would decode it into a Float64Array', () => {
    const attack = moreTypesPackr.pack({ metadata: { x: new Float64Array(4) } });
    expect((unpackr.unpack(attack) as { metadata: { x: unknown } }).metadata.x).toBeInstanceOf(Float64Array);
    expectRejected(attack, { path: 'metadata.x', message: /^extension type 0x74 is not allowed/ });
  });

  it('rejects a typed array packed by the codec packer (as bin) at metadata.x', () => {
    const packed = codecPackr.pack({ metadata: { x: new Float64Array(4) } });
    expectRejected(packed, { path: 'metadata.x', message: /^binary values are not allowed/ });
  });

  it('rejects a Date (timestamp ext −1) with any packer', () => {
    for (const p of [codecPackr, moreTypesPackr]) {
      expectRejected(p.pack({ when: new Date(0) }), { path: 'when', message: /^extension type 0xff \(-1\)/ });
      expectRejected(p.pack({ when: new Date(1.5e12 + 1) }), { path: 'when', message: /^extension type 0xff/ });
      expectRejected(p.pack({ when: new Date(-1e15) }), { path: 'when', message: /^extension type 0xff/ });
    }
  });

  it('rejects a Set (ext 0x73), an Error (0x65), a RegExp (0x78) packed with moreTypes', () => {
    expectRejected(moreTypesPackr.pack({ s: new Set([1, 2]) }), { path: 's', message: /^extension type 0x73/ });
    expectRejected(moreTypesPackr.pack({ e: new Error('x') }), { path: 'e', message: /^extension type 0x65/ });
    expectRejected(moreTypesPackr.pack({ r: /x/g }), { path: 'r', message: /^extension type 0x78/ });
  });

  it('a Set packed without moreTypes is a plain array on the wire (accepted, decodes to an array)', () => {
    const packed = codecPackr.pack({ s: new Set([1, 2]) });
    expectAccepted(packed);
    expect(unpackr.unpack(packed)).toEqual({ s: [1, 2] });
  });

  it('rejects a Map with non-string keys; a Map with string keys is a plain map on the wire', () => {
    expectRejected(codecPackr.pack({ m: new Map<unknown, unknown>([['a', 1], [2, 3]]) }), { path: 'm', message: 'map key is not a string' });
    const stringKeys = codecPackr.pack({ m: new Map([['a', 1]]) });
    expectAccepted(stringKeys);
    expect(unpackr.unpack(stringKeys)).toEqual({ m: { a: 1 } });
  });

  it('rejects undefined, which the codec packer writes as fixext1 type 0', () => {
    const packed = codecPackr.pack({ a: undefined });
    expect(packed.subarray(-3).toString('hex')).toBe('d40000');
    expectRejected(packed, { path: 'a', message: /^extension type 0x00/ });
  });

  it('rejects a record definition (ext 0x72) that would turn later fixints 0x40–0x7f into objects', () => {
    // [ record #0 = {x}, 0x40 → {x: 1} ]: msgpackr decodes records even with useRecords: false.
    const records = hex('92 d4 72 40 91 a178 01 40 02');
    expect(unpackr.unpack(records)).toEqual([{ x: 1 }, { x: 2 }]);
    expectRejected(records, { path: '0', message: /^extension type 0x72/ });
  });
});

describe('checkWireValue: depth', () => {
  it('accepts 32 nested maps (the top-level map is depth 1), rejects 33', () => {
    expectAccepted(deepMaps(32));
    expectRejected(deepMaps(33), { path: Array(32).fill('a').join('.'), message: 'nesting deeper than 32 levels', limit: 'depth' });
  });

  it('counts empty containers as a level, scalars as none', () => {
    expectAccepted(cat('91'.repeat(31), '90'));
    expectRejected(cat('91'.repeat(32), '90'), { path: Array(32).fill('0').join('.'), limit: 'depth' });
    expectAccepted(hex('c0'));
  });

  it('rejects 4,000 and 1,000,000 levels without a stack overflow', () => {
    for (const levels of [4_000, 1_000_000]) {
      expectRejected(deepArrays(levels), { path: Array(32).fill('0').join('.'), limit: 'depth' });
      expectRejected(deepMaps(levels), { path: Array(32).fill('a').join('.'), limit: 'depth' });
    }
    expect(() => unpackr.unpack(deepArrays(200_000))).toThrow(RangeError); // what msgpackr alone does
  });

  it('stops reading at the depth limit: the bytes after it are never looked at', () => {
    // Cut off just past level 33: a checker that read on would report the truncation, not the depth.
    expectRejected(deepArrays(1_000_000).subarray(0, 34), { path: Array(32).fill('0').join('.'), limit: 'depth' });
    expectRejected(deepMaps(1_000_000).subarray(0, 34 * 3), { path: Array(32).fill('a').join('.'), limit: 'depth' });
  });

  it('honours a custom maxDepth, deeper than the default', () => {
    const limits = { ...DEFAULT_WIRE_LIMITS, maxDepth: 200 };
    expectAccepted(deepArrays(200), limits);
    expectRejected(deepArrays(201), { path: Array(200).fill('0').join('.'), limit: 'depth' }, limits);
  });
});

describe('checkWireValue: map keys and element limits', () => {
  const manyKeys = (n: number, kind?: 'fix' | '16' | '32') =>
    map(Array.from({ length: n }, (_, i): [string, string] => [`k${i}`, 'c0']), kind);

  it('accepts a map of 1024 keys, rejects 1025 (map16 and map32)', () => {
    expectAccepted(manyKeys(1024));
    expectAccepted(manyKeys(1024, '32'));
    expectRejected(manyKeys(1025), { path: '', message: 'map with more than 1024 keys', limit: 'keys' });
    expectRejected(map([['outer', manyKeys(1025, '32')]]), { path: 'outer', limit: 'keys' });
  });

  it('counts every value against maxElements: items, keys and map values', () => {
    const limits = { ...DEFAULT_WIRE_LIMITS, maxElements: 10 };
    expectAccepted(hex('9a' + '01'.repeat(10)), limits); // 10 items
    expectRejected(hex('9b' + '01'.repeat(11)), { path: '', message: 'more than 10 elements', limit: 'elements' }, limits);
    expectAccepted(manyKeys(5), limits); // 5 keys + 5 values
    expectRejected(manyKeys(6), { path: '', limit: 'elements' }, limits);
    // 2 (map entry) + 4 (array items) + 4 (inner map entries) = 10
    expectAccepted(map([['a', cat('94 01 02 03', map([['x', '01'], ['y', '02']]))]]), limits);
    // Declared sizes are counted when a container opens: the root's 2 entries (4) + 4 items + 4 = 12 at "a.3".
    expectRejected(map([['a', cat('94 01 02 03', map([['x', '01'], ['y', '02']]))], ['b', '01']]), { path: 'a.3', limit: 'elements' }, limits);
  });

  it('accepts 100,000 elements by default, rejects 100,001', () => {
    expectAccepted(cat(arrayHeader(100_000, '32'), Buffer.alloc(100_000, 0xc0)));
    expectRejected(cat(arrayHeader(100_001, '32'), Buffer.alloc(100_001, 0xc0)), { path: '', message: 'more than 100000 elements', limit: 'elements' });
    // The count is checked against the declared sizes, before the items are walked.
    expectRejected(cat('92', arrayHeader(60_000, '32'), Buffer.alloc(60_000, 0xc0), arrayHeader(60_000, '32')), { path: '1', limit: 'elements' });
  });

  it('rejects a map32 claiming 2^32−1 entries in a 10-byte buffer at once, whatever the limits', () => {
    // At once: the declared size is checked against the bytes left before anything is allocated or walked.
    const buf = hex('df ffffffff 0000000000');
    expectRejected(buf, { path: '', limit: 'keys' });
    const unlimited = { maxDepth: 32, maxMapKeys: Infinity, maxElements: Infinity };
    expectRejected(buf, { path: '', message: 'value truncated' }, unlimited);
    expectRejected(hex('dd ffffffff 0000000000'), { path: '', limit: 'elements' });
    expectRejected(hex('dd ffffffff 0000000000'), { path: '', message: 'value truncated' }, unlimited);
    expectRejected(hex('db ffffffff 0000000000'), { path: '', message: 'value truncated' });
  });

  it('rejects non-string keys (the path is the map: the key has no name)', () => {
    for (const key of ['01', 'c0', 'c3', 'cb 3ff8000000000000', '90', '80', 'c4 01 61', 'd4 00 00']) {
      expectRejected(cat('81', key, '01'), { path: '', message: 'map key is not a string' });
      expectRejected(map([['meta', cat('82 a16b 01', key, '02')]]), { path: 'meta', message: 'map key is not a string' });
    }
  });

  it('rejects duplicate keys, naming the repeated key, in small and large maps', () => {
    expectRejected(hex('82 a161 01 a161 02'), { path: 'a', message: 'duplicate map key' });
    expectRejected(map([['outer', map([['x', '01'], ['y', '02'], ['x', '03']])]]), { path: 'outer.x', message: 'duplicate map key' });
    const large = (dupAt: number): Buffer =>
      map(Array.from({ length: 300 }, (_, i): [string, string] => [i === dupAt ? 'key-7' : `key-${i}`, 'c0']));
    expectAccepted(large(-1));
    expectRejected(large(299), { path: 'key-7', message: 'duplicate map key' });
    expectRejected(large(8), { path: 'key-7', message: 'duplicate map key' });
    // long keys (compared natively), differing only in the last byte, then equal
    const long = (c: string) => 'p'.repeat(5000) + c;
    expectAccepted(map([[long('a'), '01'], [long('b'), '02']]));
    expectRejected(map([[long('a'), '01'], [long('a'), '02']]), { path: long('a'), message: 'duplicate map key' });
    // equal keys in different maps are fine
    expectAccepted(map([['a', map([['a', '01']])], ['b', map([['a', '01']])]]));
  });

  it('handles maps far above the default key limit when the limits allow them, then walks normally again', () => {
    const limits = { maxDepth: 64, maxMapKeys: 1 << 20, maxElements: 1 << 26 };
    const entries = Array.from({ length: 200_000 }, (_, i): [string, string] => [`k${i}`, '01']);
    expectAccepted(map(entries, '32'), limits);
    expectRejected(map([...entries, ['k5', '02']], '32'), { path: 'k5', message: 'duplicate map key' }, limits);
    expectAccepted(RICH);
    expectRejected(hex('83 a161 01 a162 02 a161 03'), { path: 'a', message: 'duplicate map key' });
  });

  it('finds duplicates in maps around the pairwise/hash-table threshold', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 80 }), fc.nat(), fc.nat(), (n, i, j) => {
        const keys = Array.from({ length: n }, (_, k) => `k${k}`);
        expectAccepted(map(keys.map((k): [string, string] => [k, '01'])));
        const a = i % n;
        const b = j % n;
        if (a === b) return;
        keys[Math.max(a, b)] = keys[Math.min(a, b)]!;
        expectRejected(map(keys.map((k): [string, string] => [k, '01'])), { path: keys[Math.min(a, b)]!, message: 'duplicate map key' });
      }),
      { numRuns: 300 },
    );
  });

  it('rejects the key "__proto__" (msgpackr renames it "__proto_", colliding with a real "__proto_")', () => {
    const smuggle = map([['__proto__', map([['admin', 'c3']])], ['__proto_', '01']]);
    expect(JSON.stringify(unpackr.unpack(smuggle))).toBe('{"__proto_":1}');
    expectRejected(smuggle, { path: '__proto__', message: 'map key "__proto__" is not allowed' });
    expectRejected(map([['a', map([['__proto__', '01']])]]), { path: 'a.__proto__' });
    expectAccepted(map([['__proto_', '01'], ['proto', '02'], ['constructor', '03'], ['__proto__x', '04']]));
  });

  it('applies maxStringBytes to values and keys when set', () => {
    const limits = { ...DEFAULT_WIRE_LIMITS, maxStringBytes: 4 };
    expectAccepted(map([['abcd', str('wxyz')]]), limits);
    expectRejected(map([['abcd', str('vwxyz')]]), { path: 'abcd', message: 'string longer than 4 bytes', limit: 'string' }, limits);
    expectRejected(map([['abcde', str('x')]]), { path: '', limit: 'string' }, limits);
  });
});

describe('checkWireValue: strings', () => {
  it('rejects invalid UTF-8 in a value (path to the value) and in a key (path to the map)', () => {
    expectRejected(hex('81 a178 a2 c328'), { path: 'x', message: 'string is not valid UTF-8' });
    expectRejected(hex('a2 c328'), { path: '', message: 'string is not valid UTF-8' });
    expectRejected(hex('81 a2c328 01'), { path: '', message: 'string is not valid UTF-8' });
    expectRejected(nested('81 a2c328 01'), { path: 'a.b.1' });
    // msgpackr alone replaces it silently
    expect(unpackr.unpack(hex('81 a178 a2 c328'))).toEqual({ x: '\ufffd(' });
  });

  const invalid: [string, string][] = [
    ['UTF-16 surrogate (ED A0 80)', 'eda080'],
    ['low surrogate (ED BF BF)', 'edbfbf'],
    ['overlong "/" (C0 AF)', 'c0af'],
    ['overlong NUL (C1 80)', 'c180'],
    ['overlong 3-byte (E0 80 AF)', 'e080af'],
    ['overlong 4-byte (F0 80 80 AF)', 'f08080af'],
    ['beyond U+10FFFF (F4 90 80 80)', 'f4908080'],
    ['lead F5', 'f5808080'],
    ['lone continuation', '80'],
    ['truncated sequence', 'e282'],
    ['0xFF', 'ff'],
  ];
  for (const [name, bytes] of invalid) {
    it(`rejects ${name}, in short and long strings`, () => {
      expectRejected(map([['s', str(hex(bytes))]]), { path: 's', message: 'string is not valid UTF-8' });
      const long = Buffer.concat([Buffer.from('a'.repeat(100)), hex(bytes), Buffer.from('é'.repeat(10))]);
      expectRejected(map([['s', str(long)]]), { path: 's', message: 'string is not valid UTF-8' });
      expectRejected(map([[long, '01']]), { path: '' });
    });
  }

  it('accepts the edges of UTF-8: U+007F, U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF', () => {
    const s = '\u007f\u0080\u07ff\u0800\ud7ff\ue000\uffff\u{10000}\u{10ffff}';
    expectAccepted(str(s));
    expectAccepted(str(s.repeat(20)));
  });

  it('agrees with isUtf8 on any bytes, short (checked in JS) and long (checked natively)', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      fc.array(fc.oneof(fc.constantFrom(0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5), fc.nat(255)), { maxLength: 120 }).map((a) => Uint8Array.from(a)),
      fc.string({ unit: 'binary', maxLength: 60 }).map((s) => Uint8Array.from(Buffer.from(s, 'utf8'))),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const valid = isUtf8(b);
        expect(checkWireValue(str(Buffer.from(b))) === null).toBe(valid);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('checkWireValue: numbers', () => {
  it('bounds 64-bit integers to ±(2^53−1)', () => {
    expectAccepted(hex('cf 001fffff ffffffff')); // 2^53−1
    expectRejected(hex('cf 00200000 00000000'), { path: '', message: 'integer out of the ±2^53 range' }); // 2^53
    expectRejected(hex('cf 80000000 00000000'), { path: '' }); // 2^63
    expectRejected(hex('cf ffffffff ffffffff'), { path: '' }); // 2^64−1
    expectAccepted(hex('d3 001fffff ffffffff')); // 2^53−1
    expectRejected(hex('d3 00200000 00000000'), { path: '' }); // 2^53
    expectAccepted(hex('d3 ffe00000 00000001')); // −(2^53−1)
    expectRejected(hex('d3 ffe00000 00000000'), { path: '' }); // −2^53
    expectRejected(hex('d3 ffdfffff ffffffff'), { path: '' }); // −2^53−1
    expectRejected(hex('d3 80000000 00000000'), { path: '' }); // −2^63
    expectAccepted(hex('d3 ffffffff ffffffff')); // −1
    expectAccepted(hex('d3 00000000 00000000'));
    expectAccepted(hex('d3 fffffffe 00000000')); // −2^33
    expectRejected(map([['ts', 'cf 80000000 00000000']]), { path: 'ts', message: 'integer out of the ±2^53 range' });
    expect(unpackr.unpack(hex('cf 00200000 00000001'))).toBe(2n ** 53n + 1n); // msgpackr's 'auto' would yield a bigint
  });

  it('accepts every safe integer as int64/uint64, rejects every unsafe one', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        const b = Buffer.alloc(9);
        b[0] = 0xd3;
        b.writeBigInt64BE(v, 1);
        const safe = v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n;
        expect(checkWireValue(b) === null).toBe(safe);
        if (v >= 0n) {
          b[0] = 0xcf;
          expect(checkWireValue(b) === null).toBe(safe);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects NaN and ±Infinity, as float64 and float32', () => {
    for (const f of [NaN, Infinity, -Infinity]) {
      const b64 = Buffer.alloc(9);
      b64[0] = 0xcb;
      b64.writeDoubleBE(f, 1);
      expectRejected(map([['score', b64]]), { path: 'score', message: 'float is NaN or infinite' });
      const b32 = Buffer.alloc(5);
      b32[0] = 0xca;
      b32.writeFloatBE(f, 1);
      expectRejected(b32, { path: '', message: 'float is NaN or infinite' });
    }
    expectRejected(hex('cb fff0000000000001'), { path: '' }); // a NaN with a payload, negative sign
    expectRejected(hex('ca 7f800001'), { path: '' });
    expectAccepted(hex('cb 7fefffffffffffff')); // largest finite
    expectAccepted(hex('cb 8000000000000000')); // −0
    expectAccepted(hex('cb 0000000000000001')); // smallest subnormal
    expectAccepted(hex('ca ff7fffff'));
  });
});

describe('checkWireValue: truncation and trailing bytes', () => {
  it('rejects every proper prefix of a valid message, never throwing', () => {
    const messages = [
      RICH,
      packMessage({ id: 'c1-17', ts: Date.now(), op: 'store', body: { text: 'hello wörld', tags: ['a'], metadata: { n: 1.5, big: 2 ** 40 } } }),
    ];
    for (const m of messages) {
      expectAccepted(m);
      for (let i = 0; i < m.length; i++) {
        const err = checkWireValue(m.subarray(0, i));
        expect(err, `prefix of ${i} bytes`).not.toBeNull();
        expect(err!.message).toBe('value truncated');
      }
    }
  });

  it('rejects an empty buffer', () => {
    expectRejected(new Uint8Array(0), { path: '', message: 'value truncated' });
  });

  it('rejects trailing bytes after the value', () => {
    expectRejected(cat(RICH, 'c0'), { path: '', message: 'trailing bytes after the value' });
    expectRejected(hex('80 80'), { path: '', message: 'trailing bytes after the value' });
    expectRejected(hex('01 00'), { path: '' });
  });

  it('reports truncation at the value it cuts through', () => {
    expectRejected(hex('82 a161 01 a162 d9 05 6162'), { path: 'b', message: 'value truncated' });
    expectRejected(hex('82 a161 01 a162'), { path: 'b', message: 'value truncated' });
    expectRejected(hex('82 a161 01 d9'), { path: '', message: 'value truncated' }); // inside the second key
  });
});

describe('checkWireValue: random input', () => {
  const jsonBytes = fc.jsonValue({ maxDepth: 6 }).map((v) => Uint8Array.from(codecPackr.pack(v)));
  /** A valid encoding with a few bytes overwritten, and maybe cut or extended. */
  const mutated = fc
    .tuple(jsonBytes, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.option(fc.nat()), fc.uint8Array({ maxLength: 3 }))
    .map(([b, edits, cut, extra]) => {
      const out = Uint8Array.from(b);
      for (const [at, byte] of edits) if (out.length) out[at % out.length] = byte;
      const cutAt = cut === null ? out.length : cut % (out.length + 1);
      return Uint8Array.from([...out.subarray(0, cutAt), ...extra]);
    });
  const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated, jsonBytes);

  it('never throws; whatever it accepts msgpackr decodes, into a value checkPlainValue accepts', () => {
    let accepted = 0;
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        let err: ReturnType<typeof checkWireValue> = null;
        expect(() => {
          err = checkWireValue(bytes);
        }).not.toThrow();
        if (err === null) {
          accepted++;
          let decoded: unknown;
          expect(() => {
            decoded = unpackr.unpack(bytes);
          }).not.toThrow();
          expect(checkPlainValue(decoded)).toBeNull();
          // and it packs back into bytes that are accepted too
          expect(checkWireValue(packMessage(decoded))).toBeNull();
        } else {
          expect(typeof (err as { message: string }).message).toBe('string');
          expect(typeof (err as { path: string }).path).toBe('string');
        }
      }),
      { numRuns: 5000 },
    );
    expect(accepted).toBeGreaterThan(500);
  });
});

describe('checkPlainValue', () => {
  it('accepts JSON values, null-prototype objects, safe bigints', () => {
    expect(checkPlainValue({ a: [1, 'x', null, true, 1.5, -0, { b: {} }], c: 2 ** 60, d: 1e300 })).toBeNull();
    const bare = Object.create(null) as Record<string, unknown>;
    bare.x = 1;
    expect(checkPlainValue({ bare })).toBeNull();
    expect(checkPlainValue({ t: 2n ** 53n - 1n, u: -(2n ** 53n - 1n) })).toBeNull();
    expect(checkPlainValue('top-level string')).toBeNull();
    expect(checkPlainValue(null)).toBeNull();
  });

  const rejects: [string, unknown, RegExp][] = [
    ['Float64Array', new Float64Array(4), /^binary values \(Float64Array\) are not allowed/],
    ['Uint8Array', new Uint8Array(4), /^binary values \(Uint8Array\)/],
    ['Buffer', Buffer.from('x'), /^binary values \(Buffer\)/],
    ['DataView', new DataView(new ArrayBuffer(2)), /^binary values \(DataView\)/],
    ['ArrayBuffer', new ArrayBuffer(2), /^binary values \(ArrayBuffer\)/],
    ['Date', new Date(0), /^Date is not allowed: values are JSON/],
    ['Map', new Map([['a', 1]]), /^Map is not allowed/],
    ['Set', new Set([1]), /^Set is not allowed/],
    ['RegExp', /x/, /^RegExp is not allowed/],
    ['Error', new Error('x'), /^Error is not allowed/],
    ['class instance', new (class Point { x = 1; })(), /^instance of Point is not allowed/],
    ['array subclass', new (class MyArray extends Array {})(), /^array subclass is not allowed/],
    ['boxed string', new String('x'), /^String is not allowed/],
    ['NaN', NaN, /^number is NaN or infinite/],
    ['Infinity', Infinity, /^number is NaN or infinite/],
    ['-Infinity', -Infinity, /^number is NaN or infinite/],
    ['undefined', undefined, /^undefined is not allowed/],
    ['function', () => 1, /^functions are not allowed/],
    ['symbol', Symbol('s'), /^symbols are not allowed/],
    ['unsafe bigint', 2n ** 53n, /^integer out of the ±2\^53 range/],
    ['lone high surrogate', 'a\ud800b', /^string is not well-formed UTF-16/],
    ['lone low surrogate', '\udc00', /^string is not well-formed UTF-16/],
  ];
  for (const [name, value, message] of rejects) {
    it(`rejects ${name}, at the root and nested with its path`, () => {
      const top = checkPlainValue(value);
      expect(top?.path).toBe('');
      expect(top?.message).toMatch(message);
      const inner = checkPlainValue({ body: { items: [{}, {}, {}, { metadata: { x: value } }] } });
      expect(inner?.path).toBe('body.items.3.metadata.x');
      expect(inner?.message).toMatch(message);
    });
  }

  it('rejects undefined inside objects and arrays, and array holes', () => {
    expect(checkPlainValue({ a: 1, b: undefined })).toMatchObject({ path: 'b', message: /^undefined is not allowed/ });
    expect(checkPlainValue([1, undefined])).toMatchObject({ path: '1' });
    // eslint-disable-next-line no-sparse-arrays
    expect(checkPlainValue([1, , 3])).toMatchObject({ path: '1' });
  });

  it('rejects an own "__proto__" key (as JSON.parse makes) and ill-formed keys', () => {
    expect(checkPlainValue(JSON.parse('{"a":{"__proto__":{"admin":true}}}'))).toMatchObject({ path: 'a.__proto__', message: 'map key "__proto__" is not allowed' });
    expect(checkPlainValue({ a: { ['\ud800']: 1 } })).toMatchObject({ path: 'a', message: /^map key is not well-formed/ });
    expect(checkPlainValue({ __proto_: 1, constructor: 2 })).toBeNull();
  });

  it('stops a 4,000-deep object and a cycle at maxDepth, without a stack overflow', () => {
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 4_000; i++) deep = (deep.a = {}) as Record<string, unknown>;
    expect(checkPlainValue(root)).toMatchObject({ path: Array(32).fill('a').join('.'), message: 'nesting deeper than 32 levels', limit: 'depth' });
    let arr: unknown[] = [];
    const rootArr = arr;
    for (let i = 0; i < 100_000; i++) arr = (arr[0] = []) as unknown[];
    expect(checkPlainValue(rootArr)).toMatchObject({ limit: 'depth' });
    const cyclic: Record<string, unknown> = { x: 1 };
    cyclic.self = cyclic;
    expect(checkPlainValue(cyclic)).toMatchObject({ limit: 'depth' });
  });

  it('accepts depth 32, rejects 33', () => {
    const nest = (levels: number): unknown => (levels === 1 ? { a: null } : { a: nest(levels - 1) });
    expect(checkPlainValue(nest(32))).toBeNull();
    expect(checkPlainValue(nest(33))).toMatchObject({ limit: 'depth' });
  });

  it('applies the key, element and string limits', () => {
    const obj = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    expect(checkPlainValue(obj(1024))).toBeNull();
    expect(checkPlainValue({ m: obj(1025) })).toMatchObject({ path: 'm', message: 'map with more than 1024 keys', limit: 'keys' });
    expect(checkPlainValue(new Array(100_000).fill(0))).toBeNull();
    expect(checkPlainValue(new Array(100_001).fill(0))).toMatchObject({ path: '', limit: 'elements' });
    expect(checkPlainValue(new Array(2 ** 32 - 1))).toMatchObject({ limit: 'elements' }); // sparse, not walked
    const limits = { ...DEFAULT_WIRE_LIMITS, maxElements: 10, maxStringBytes: 4 };
    expect(checkPlainValue({ a: [1, 2, 3, 4], b: { c: 1 } }, limits)).toBeNull(); // 2+2 keys/values, 4 items, 2 = 10
    expect(checkPlainValue({ a: [1, 2, 3, 4, 5], b: { c: 1 } }, limits)).toMatchObject({ limit: 'elements' });
    expect(checkPlainValue({ s: 'ééé' }, limits)).toMatchObject({ path: 's', limit: 'string' }); // 6 bytes
    expect(checkPlainValue({ s: 'éé' }, limits)).toBeNull();
  });
});

describe('limits shared with the domain', () => {
  it('a stored context keeps within the wire limits it meets again at load', async () => {
    const { MAX_METADATA_KEYS } = await import('../../src/domain/context.ts');
    const { REQUEST_LIMITS } = await import('../../src/protocol/codec.ts');
    expect(MAX_METADATA_KEYS).toBe(REQUEST_LIMITS.maxMapKeys);
  });
});

describe('the encoder refuses values outside the model', () => {
  it('names the path of the first value it cannot encode', async () => {
    const { packMessage, EncodeError } = await import('../../src/protocol/codec.ts');
    const bad: Array<[unknown, string]> = [
      [{ body: { metadata: { x: new Float64Array(2) } } }, 'body.metadata.x'],
      [{ body: { items: [{ ok: 1 }, { when: new Date(0) }] } }, 'body.items.1.when'],
      [{ a: [1, 2, [NaN]] }, 'a.2.0'],
      [{ u: undefined }, 'u'],
      [new Map(), 'the message'],
    ];
    for (const [value, path] of bad) {
      expect(() => packMessage(value)).toThrow(EncodeError);
      expect(() => packMessage(value)).toThrow(`cannot encode ${path}:`);
    }
    expect(packMessage({ ok: [1, { ts: 1767225600000 }] }).length).toBeGreaterThan(0);
  });
});

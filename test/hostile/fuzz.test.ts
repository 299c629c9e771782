/**
 * Fuzzing the real daemon (case 12), with fixed seeds and modest run counts:
 * signed bodies holding whatever msgpackr packs from fc.anything() (typed
 * arrays, Dates, Maps, Sets, BigInts, records), hand-made hostile MessagePack
 * (every ext and bin form, lying lengths, deep nesting, huge and odd maps),
 * wrong types in every field of every op `hello` lists, then raw byte streams
 * and valid frames split at random boundaries with garbage behind them.
 * Every answer to a well-framed request is a well-formed response with a
 * registered code (never INTERNAL, never a fatal diagnostic); the daemon stays
 * up; another tenant is fine; and the fuzzing tenant never received a byte of
 * another tenant's text.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/daemon.ts';
import { alive, codeOf, expectServes, expectWellFormed, findMarkers, freshId, mp, Peer, signedBody, signedMessage, type Frame } from '../helpers/hostile.ts';
import { startTenantDaemon, type TenantDaemon } from '../helpers/tenants.ts';

let t: TenantDaemon;
const markers: string[] = [];
/** Every peer tenant B fuzzed with: their received bytes are scanned at the end. */
const bPeers: Peer[] = [];
let bContextId = '';
let ops: string[] = [];

beforeAll(async () => {
  t = await startTenantDaemon({ args: ['--set', 'server.frame_deadline_ms=1000', '--set', 'server.handshake_timeout_ms=2000'] });
  const A = t.key('A');
  const a = await Peer.open(t.d.port, { keys: [A] });
  const items = Array.from({ length: 30 }, (_, i) => {
    const m = `zqFUZZ${randomBytes(8).toString('hex')}`;
    markers.push(m);
    return { text: `fuzz target note ${i} ${m}`, level: ((i % 3) + 1) as 1 | 2 | 3, tags: ['fuzz'], metadata: { k: m.slice(0, 12) } };
  });
  expect(codeOf(await a.request(A, 'store_batch', { items }))).toBe('ok');
  a.destroy();
  const B = t.key('B');
  const b = await fuzzPeer();
  const hello = await b.request(B, 'hello');
  ops = hello.message!.body.ops;
  bContextId = (await b.request(B, 'store', { text: 'b fuzz anchor', level: 3 })).message!.body.id;
});
afterAll(stopAll);

async function fuzzPeer(): Promise<Peer> {
  const B = t.key('B');
  const p = await Peer.open(t.d.port, { keys: [B] });
  bPeers.push(p);
  expect(codeOf(await p.request(B, 'hello'))).toBe('ok');
  return p;
}

let current: Peer | null = null;
const unexpectedCloses: string[] = [];

/**
 * Sends one signed request built around `body` bytes (or a whole message) and
 * checks the answer: well-formed, a registered code, not INTERNAL, not a
 * diagnostic. A closed connection is a finding; the next send reopens.
 */
async function fuzzSend(op: string, body: Buffer | undefined, what: string, whole?: Buffer): Promise<string> {
  if (!current || current.hasClosed) current = await fuzzPeer();
  const id = freshId('fz');
  const message = whole ?? mp.request({ id, op, ...(body ? { body } : {}) });
  let f: Frame;
  try {
    f = await current.exchange(signedBody(t.key('B'), message), 15_000);
  } catch (e) {
    unexpectedCloses.push(`${what}: ${(e as Error).message}`);
    throw e;
  }
  const code = expectWellFormed(f, what);
  expect(f.diagnostic, `${what}: answered with a fatal diagnostic ${code}`).toBe(false);
  expect(code, `${what}: ${JSON.stringify(f.message?.error)}`).not.toBe('INTERNAL');
  if (!whole) expect([id, '']).toContain(f.message!.id);
  return code;
}

/* ---- generators of hostile MessagePack ---- */

const u8 = (...b: number[]) => Buffer.from(b);
const be = (n: number, bytes: 1 | 2 | 4) => {
  const b = Buffer.alloc(bytes);
  if (bytes === 1) b.writeUInt8(n);
  else if (bytes === 2) b.writeUInt16BE(n);
  else b.writeUInt32BE(n);
  return b;
};

const EXT_HEADS = [0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8] as const;
const FIX_LEN: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };

/** Every ext form with any type code, its declared length true or lying. */
const extArb = fc
  .tuple(fc.constantFrom(...EXT_HEADS), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }), fc.boolean())
  .map(([head, type, data, lie]) => {
    if (FIX_LEN[head] !== undefined) return Buffer.concat([u8(head, type), Buffer.from(data).subarray(0, FIX_LEN[head]), Buffer.alloc(Math.max(0, FIX_LEN[head]! - data.length))]);
    const width = head === 0xc7 ? 1 : head === 0xc8 ? 2 : 4;
    const declared = lie ? Math.min(2 ** (8 * width) - 1, data.length + 1000) : data.length;
    return Buffer.concat([u8(head), be(declared, width as 1 | 2 | 4), u8(type), data]);
  });

const binArb = fc.tuple(fc.constantFrom(0xc4, 0xc5, 0xc6), fc.uint8Array({ maxLength: 64 }), fc.boolean()).map(([head, data, lie]) => {
  const width = head === 0xc4 ? 1 : head === 0xc5 ? 2 : 4;
  return Buffer.concat([u8(head), be(lie ? data.length + 7 : data.length, width as 1 | 2 | 4), data]);
});

/** Headers whose declared sizes the bytes cannot back. */
const lyingArb = fc.constantFrom(
  Buffer.from('dbffffffff61', 'hex'), // str32 of 4 GiB
  Buffer.from('ddffffffff01', 'hex'), // array32 of 4 G items
  Buffer.from('dfffffffffa16101', 'hex'), // map32 of 4 G entries
  Buffer.from('de ffff a161 01'.replace(/ /g, ''), 'hex'), // map16 of 65,535 entries
  Buffer.from('dc ffff 01'.replace(/ /g, ''), 'hex'), // array16 of 65,535 items
  Buffer.from('da0010', 'hex'), // str16 truncated
  Buffer.from('cb7ff0', 'hex'), // truncated float
  Buffer.from('c1', 'hex'),
  Buffer.from('cf ffffffffffffffff'.replace(/ /g, ''), 'hex'), // uint64 max
  Buffer.from('d3 8000000000000000'.replace(/ /g, ''), 'hex'), // int64 min
  Buffer.from('cb 7ff8000000000000'.replace(/ /g, ''), 'hex'), // NaN
  Buffer.from('ca 7f800000'.replace(/ /g, ''), 'hex'), // float32 +Inf
);

const deepArb = fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.boolean()).map(([depth, maps]) =>
  maps ? Buffer.concat([Buffer.alloc(depth * 3).fill(Buffer.from([0x81, 0xa1, 0x61])), u8(0xc0)]) : mp.nestedArrays(depth, u8(0xc0)),
);

const oddMapArb = fc.oneof(
  fc.integer({ min: 1000, max: 3000 }).map((n) => mp.mapRaw(Array.from({ length: n }, (_, i) => [mp.str(`k${i}`), mp.int(i)] as const))),
  fc.constant(mp.mapRaw([[mp.str('a'), mp.int(1)], [mp.str('a'), mp.int(2)]])), // duplicate key
  fc.constant(mp.mapRaw([[mp.str('__proto__'), mp.map({ polluted: mp.bool(true) })]])),
  fc.constant(mp.mapRaw([[mp.int(1), mp.int(1)]])), // integer key
  fc.constant(mp.mapRaw([[mp.arr([]), mp.int(1)]])), // array key
  fc.constant(mp.mapRaw([[mp.strBytes(Buffer.from('ff', 'hex')), mp.int(1)]])), // invalid UTF-8 key
  fc.integer({ min: 100_001, max: 150_000 }).map((n) => mp.arr(Array.from({ length: n }, () => u8(0xc0)))), // many elements
);

const scalarArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constant(mp.nil()),
  fc.boolean().map(mp.bool),
  fc.integer().map(mp.int),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(mp.f64),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(mp.str),
  fc.uint8Array({ maxLength: 12 }).map((b) => mp.strBytes(b)), // maybe invalid UTF-8
);

const hostileArb: fc.Arbitrary<Buffer> = fc.letrec<{ v: Buffer }>((tie) => ({
  v: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'h' },
    { arbitrary: scalarArb, weight: 4 },
    { arbitrary: extArb, weight: 3 },
    { arbitrary: binArb, weight: 1 },
    { arbitrary: lyingArb, weight: 1 },
    { arbitrary: deepArb, weight: 1 },
    { arbitrary: oddMapArb, weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)), weight: 1 },
    { arbitrary: fc.array(tie('v'), { maxLength: 4 }).map((xs) => mp.arr(xs)), weight: 2 },
    { arbitrary: fc.array(fc.tuple(fc.string({ maxLength: 8 }), tie('v')), { maxLength: 4 }).map((es) => mp.mapRaw(es.map(([k, v]) => [mp.str(k), v] as const))), weight: 2 },
  ),
})).v;

/* ---- the op table: every field of every op `hello` lists ---- */

const FIELDS: Record<string, { base: () => Record<string, Buffer>; fields: string[] }> = {
  hello: { base: () => ({}), fields: ['client'] },
  ping: { base: () => ({}), fields: [] },
  store: { base: () => ({ text: mp.str('fuzzed store'), level: mp.int(3) }), fields: ['text', 'level', 'session', 'agent', 'tags', 'metadata', 'ttl_s'] },
  store_batch: { base: () => ({ items: mp.arr([mp.map({ text: mp.str('fuzzed item'), level: mp.int(3) })]) }), fields: ['items'] },
  retrieve: {
    base: () => ({ query: mp.str('fuzz target note') }),
    fields: ['query', 'max_tokens', 'levels', 'session', 'agent', 'tags_any', 'tags_all', 'where', 'since', 'until', 'min_score', 'min_similarity'],
  },
  get: { base: () => ({ id: mp.str(bContextId) }), fields: ['id'] },
  update: { base: () => ({ id: mp.str(bContextId), tags: mp.arr([mp.str('t')]) }), fields: ['id', 'text', 'metadata', 'tags', 'level', 'ttl_s'] },
  delete: { base: () => ({ id: mp.str('c-no-such-id') }), fields: ['id'] },
  delete_where: { base: () => ({ session: mp.str('no-such-session') }), fields: ['session', 'agent', 'level', 'tags_any', 'where'] },
  clear: { base: () => ({ level: mp.int(1), session: mp.str('no-such-session') }), fields: ['level', 'session'] },
  list: { base: () => ({ limit: mp.int(5) }), fields: ['level', 'session', 'agent', 'cursor', 'limit'] },
  stats: { base: () => ({}), fields: [] },
  debug_hold: { base: () => ({ ms: mp.int(1) }), fields: ['ms'] },
  // Admin ops: the fuzzing key is an agent's, so these meet the role check first (FORBIDDEN), whatever the body.
  export: { base: () => ({ limit: mp.int(5) }), fields: ['session', 'level', 'all_tenants', 'cursor', 'limit', 'vectors'] },
  import: {
    base: () => ({ items: mp.arr([mp.map({ id: mp.str('c-fuzz'), level: mp.int(3), text: mp.str('fuzzed import'), session: mp.str('s'), ts: mp.int(1), created_ts: mp.int(1), version: mp.int(1) })]) }),
    fields: ['items', 'vector_space'],
  },
  purge: { base: () => ({ tenant: mp.str('fuzz-nobody') }), fields: [] },
  backup: { base: () => ({}), fields: [] },
  rekey: { base: () => ({ limit: mp.int(5) }), fields: ['cursor', 'limit'] },
  end_session: { base: () => ({ session: mp.str('fuzz-session') }), fields: ['session', 'action'] },
  list_sessions: { base: () => ({ limit: mp.int(5) }), fields: ['cursor', 'limit'] },
};

/** Ops an agent key may not call: refused by role before their body is read. */
const ADMIN_OPS = new Set(['export', 'import', 'purge', 'backup', 'rekey']);

const WRONG: ReadonlyArray<readonly [string, Buffer]> = [
  ['nil', mp.nil()],
  ['0', mp.int(0)],
  ['-1', mp.int(-1)],
  ['-(2^53-1)', mp.int64(-(2 ** 53 - 1))],
  ['2^53-1', mp.int64(2 ** 53 - 1)],
  ['1.5', mp.f64(1.5)],
  ['float 3.0', mp.f64(3)],
  ['""', mp.str('')],
  ['"x"', mp.str('x')],
  ['huge string', mp.str('x'.repeat(300_000))],
  ['[]', mp.arr([])],
  ['[1,"a",nil]', mp.arr([mp.int(1), mp.str('a'), mp.nil()])],
  ['{}', mp.map({})],
  ['{a:{b:1}}', mp.map({ a: mp.map({ b: mp.int(1) }) })],
  ['true', mp.bool(true)],
  ['false', mp.bool(false)],
];

describe('case 12: fuzz', () => {
  it('every op hello lists has a fuzz table entry', () => {
    expect(ops.length).toBeGreaterThan(5);
    for (const op of ops) expect(Object.keys(FIELDS), `op ${op}`).toContain(op);
  });

  it('wrong types in every field of every op: well-formed answers, registered codes, never INTERNAL or fatal', async () => {
    const seen = new Map<string, number>();
    for (const op of ops) {
      const spec = FIELDS[op]!;
      for (const field of [...spec.fields, 'tenant', 'zzz_unknown']) {
        for (const [label, value] of WRONG) {
          const body = { ...spec.base(), [field]: value };
          const code = await fuzzSend(op, mp.map(body), `${op}.${field} = ${label}`);
          seen.set(code, (seen.get(code) ?? 0) + 1);
          if (field === 'tenant') expect(['FORBIDDEN', 'BAD_REQUEST'], `${op}.tenant = ${label}`).toContain(code);
          if (ADMIN_OPS.has(op)) expect(code, `${op}.${field} = ${label} with an agent key`).toBe('FORBIDDEN');
          else if (field === 'zzz_unknown') expect(code, `${op} with an unknown field`).toBe('BAD_REQUEST');
        }
      }
      if (op === 'store_batch') {
        for (const field of FIELDS.store!.fields) {
          for (const [label, value] of WRONG) {
            const item = { ...FIELDS.store!.base(), [field]: value };
            const code = await fuzzSend(op, mp.map({ items: mp.arr([mp.map(item), mp.map(FIELDS.store!.base())]) }), `store_batch items.0.${field} = ${label}`);
            seen.set(code, (seen.get(code) ?? 0) + 1);
          }
        }
      }
    }
    console.log(`[case 12] wrong-type answers: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect(unexpectedCloses).toEqual([]);
  }, 120_000);

  it('bodies packed by msgpackr from fc.anything() (typed arrays, Dates, Maps, Sets, BigInts, records)', async () => {
    const packers = [new Packr(), new Packr({ moreTypes: true }), new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true })];
    const anything = fc.anything({
      maxDepth: 4,
      maxKeys: 6,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withBoxedValues: true,
      withObjectString: true,
      withUnicodeString: true,
    });
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(anything, fc.integer({ min: 0, max: packers.length - 1 }), fc.constantFrom(...ops.filter((o) => o !== 'debug_hold')), fc.constantFrom('body', 'metadata', 'field'), async (value, pk, op, where) => {
        let packed: Buffer;
        try {
          packed = Buffer.from(packers[pk]!.pack(value));
        } catch {
          return; // msgpackr cannot pack it (a BigInt beyond 64 bits): nothing to send
        }
        const spec = FIELDS[op]!;
        const body =
          where === 'body' ? packed
          : where === 'metadata' ? mp.map({ ...FIELDS.store!.base(), metadata: packed })
          : mp.map({ ...spec.base(), [spec.fields[0] ?? 'x']: packed });
        const code = await fuzzSend(where === 'metadata' ? 'store' : op, body, `${op} ${where} = ${packed.toString('hex').slice(0, 80)}`);
        seen.set(code, (seen.get(code) ?? 0) + 1);
      }),
      { seed: 0x5eed01, numRuns: 400, endOnFailure: true },
    );
    console.log(`[case 12] fc.anything() answers: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect(unexpectedCloses).toEqual([]);
  }, 120_000);

  it('hand-made hostile MessagePack: every ext and bin form, lying lengths, deep nesting, huge and odd maps', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(hostileArb, fc.constantFrom(...ops.filter((o) => o !== 'debug_hold')), fc.constantFrom('whole', 'body', 'metadata', 'field'), async (value, op, where) => {
        const spec = FIELDS[op]!;
        const id = freshId('fzw');
        const code =
          where === 'whole'
            ? await fuzzSend(op, undefined, `whole message ${value.toString('hex').slice(0, 80)}`, value.length % 2 ? value : mp.mapRaw([[mp.str('id'), mp.str(id)], [mp.str('ts'), mp.int64(Date.now())], [mp.str('op'), mp.str(op)], [mp.str('body'), value]]))
            : await fuzzSend(
                where === 'metadata' ? 'store' : op,
                where === 'body' ? value : where === 'metadata' ? mp.map({ ...FIELDS.store!.base(), metadata: mp.map({ x: value }) }) : mp.map({ ...spec.base(), [spec.fields[0] ?? 'x']: value }),
                `${op} ${where} = ${value.toString('hex').slice(0, 80)}`,
              );
        seen.set(code, (seen.get(code) ?? 0) + 1);
      }),
      { seed: 0x5eed02, numRuns: 500, endOnFailure: true },
    );
    console.log(`[case 12] hostile MessagePack answers: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect(unexpectedCloses).toEqual([]);
  }, 120_000);

  it('raw byte streams: at most one fatal diagnostic, then the close; the daemon stays up', async () => {
    const FATAL = ['BAD_FRAME', 'FRAME_TOO_LARGE', 'UNSUPPORTED_VERSION', 'UNKNOWN_KEY', 'BAD_SIGNATURE', 'OVERLOADED'];
    const header = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([len, ver, kidLen]) => {
      const b = Buffer.alloc(6);
      b.writeUInt32BE(len);
      b[4] = ver;
      b[5] = kidLen;
      return b;
    });
    const stream = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => Buffer.from(b)),
      fc.tuple(header, fc.uint8Array({ maxLength: 200 })).map(([h, rest]) => Buffer.concat([h, rest])),
      fc.tuple(fc.integer({ min: 36, max: 400 }), fc.uint8Array({ minLength: 400, maxLength: 400 })).map(([len, rest]) => {
        const b = Buffer.concat([be(len, 4), u8(1, 5), Buffer.from('agent'), Buffer.from(rest)]).subarray(0, 4 + len);
        return b; // a whole frame with a plausible kid and a wrong tag
      }),
    );
    const one = async ([bytes, fin]: [Buffer, boolean]) => {
      const p = await Peer.open(t.d.port);
      p.send(bytes);
      // Half of them half-close behind their bytes: the daemon must close then too, deadline or not.
      if (fin) p.end();
      await p.waitFor(() => (p.hasClosed ? true : undefined), 'the close', 10_000);
      expect(p.frames.length).toBeLessThanOrEqual(1);
      for (const f of p.frames) {
        expect(f.diagnostic).toBe(true);
        expect(FATAL).toContain(expectWellFormed(f));
      }
    };
    // Streams that stop mid-frame wait for a deadline: ten connections at a time.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(stream, fc.boolean()), { minLength: 10, maxLength: 10 }), async (batch) => {
        await Promise.all(batch.map(one));
      }),
      { seed: 0x5eed03, numRuns: 12, endOnFailure: true },
    );
    expect(alive(t.d)).toBe(true);
  }, 120_000);

  it('valid frames split at random boundaries, with or without garbage behind: answered, then at most one diagnostic and the close', async () => {
    const B = t.key('B');
    const oneCase = fc.tuple(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 40 }),
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
      fc.boolean(),
    );
    const run = async ([n, cuts, garbage, fin]: [number, number[], Uint8Array | undefined, boolean]) => {
      const p = await Peer.open(t.d.port, { keys: [B] });
      bPeers.push(p);
      const ids = Array.from({ length: n }, (_, i) => `split-${freshId()}-${i}`);
      const frames = [signedMessage(B, { id: ids[0]!, ts: Date.now(), op: 'hello', body: {} })];
      for (const id of ids.slice(1)) frames.push(signedMessage(B, { id, ts: Date.now(), op: id.endsWith('3') ? 'retrieve' : 'ping', body: id.endsWith('3') ? { query: 'fuzz target note' } : {} }));
      const all = Buffer.concat([...frames, ...(garbage ? [Buffer.from(garbage)] : [])]);
      let off = 0;
      for (const c of cuts) {
        if (off >= all.length) break;
        p.send(all.subarray(off, off + c));
        off += c;
      }
      if (off < all.length) p.send(all.subarray(off));
      if (fin && garbage) p.end();
      if (garbage) {
        // A fatal framing error closes the connection; answers still in flight are dropped (PROTOCOL.md §6.1).
        await p.waitFor(() => (p.hasClosed ? true : undefined), 'the close after the garbage', 10_000);
        expect(p.frames.filter((f) => f.diagnostic).length).toBeLessThanOrEqual(1);
      } else {
        for (const id of ids) await p.answer(id);
      }
      const answered = p.frames.filter((f) => !f.diagnostic).map((f) => f.message?.id);
      expect(new Set(answered).size, 'no answer twice').toBe(answered.length);
      for (const id of answered) expect(ids).toContain(id);
      for (const f of p.frames) expectWellFormed(f);
      if (!garbage) expect(p.frames.every((f) => !f.diagnostic && codeOf(f) === 'ok')).toBe(true);
      p.destroy();
    };
    // Garbage that stops mid-frame waits for frame_deadline_ms: eight connections at a time.
    await fc.assert(
      fc.asyncProperty(fc.array(oneCase, { minLength: 8, maxLength: 8 }), async (batch) => {
        await Promise.all(batch.map(run));
      }),
      { seed: 0x5eed04, numRuns: 12, endOnFailure: true },
    );
    expect(alive(t.d)).toBe(true);
  }, 120_000);

  it('after all of it: alive, another tenant fine, and B never received a byte of A', async () => {
    expect(alive(t.d)).toBe(true);
    for (const p of bPeers) p.destroy();
    const bytes = Buffer.concat(bPeers.flatMap((p) => p.raw));
    expect(bytes.length).toBeGreaterThan(0);
    expect(findMarkers(bytes, markers), 'A markers in bytes B received').toEqual([]);
    expect(bPeers.flatMap((p) => p.anomalies)).toEqual([]);
    await expectServes(t.d, t.key('C'), { forbidden: markers });
    // A's data is intact.
    const a = await Peer.open(t.d.port, { keys: [t.key('A')] });
    const list = await a.request(t.key('A'), 'list', { limit: 1000 });
    expect(findMarkers(a.received(), markers).sort()).toEqual([...markers].sort());
    expect(list.message!.body.items).toHaveLength(30);
    a.destroy();
  });
});

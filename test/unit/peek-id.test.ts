/** Recovering the id of a refused request body (PROTOCOL.md §4.2). */
import { Packr } from 'msgpackr';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { peekRequestId } from '../../src/protocol/peek-id.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const pack = (v: unknown) => packr.pack(v);

describe('peekRequestId', () => {
  it('reads an id sent first, or after scalars and strings', () => {
    expect(peekRequestId(pack({ id: 'r1', ts: 1767225600000, op: 'store', body: { metadata: new Float64Array(2) } }))).toBe('r1');
    expect(peekRequestId(pack({ op: 'store', ts: 1767225600000, flag: true, n: -3.5, id: 'r2', body: {} }))).toBe('r2');
  });

  it('gives up at a nested value before the id, at a non-string id, and at invalid UTF-8', () => {
    expect(peekRequestId(pack({ body: {}, id: 'late' }))).toBeNull();
    expect(peekRequestId(pack({ id: 7 }))).toBeNull();
    expect(peekRequestId(Buffer.from([0x81, 0xa2, 0x69, 0x64, 0xa2, 0xc3, 0x28]))).toBeNull();
    expect(peekRequestId(pack({ id: 'x'.repeat(65) }))).toBeNull();
    expect(peekRequestId(pack(['id', 'r1']))).toBeNull();
  });

  it('never throws and never reads past the end, on any prefix or random bytes', () => {
    const whole = pack({ id: 'abc', ts: 1, op: 'ping' });
    for (let n = 0; n <= whole.length; n++) expect(() => peekRequestId(whole.subarray(0, n))).not.toThrow();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const id = peekRequestId(bytes);
      return id === null || typeof id === 'string';
    }), { seed: 7, numRuns: 2000 });
  });
});

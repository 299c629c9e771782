import { describe, expect, it, vi } from 'vitest';
import { ajv, lazyValidator, warmValidators } from '../../src/server/validation.ts';

describe('lazy validators', () => {
  it('compile on first use, once; warmValidators compiles the rest one per turn of the event loop', async () => {
    const compile = vi.spyOn(ajv, 'compile');
    try {
      const a = lazyValidator({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });
      const b = lazyValidator({ type: 'object', properties: { b: { type: 'number' } }, required: ['b'] });
      const c = lazyValidator({ type: 'object', properties: { c: { type: 'boolean' } }, required: ['c'] });
      expect(compile).not.toHaveBeenCalled();
      expect(a()({ a: 'x' })).toBe(true);
      expect(a()({ a: 1 })).toBe(false);
      expect(compile).toHaveBeenCalledTimes(1);

      // Anything declared by other modules (handlers) is compiled by the same walk: count only b and c.
      const compiledNow = () => compile.mock.calls.filter(([s]) => JSON.stringify(s).includes('"b"') || JSON.stringify(s).includes('"c"')).length;
      warmValidators();
      expect(compiledNow()).toBeLessThanOrEqual(1);
      for (let turn = 0; turn < 200 && compiledNow() < 2; turn++) await new Promise((r) => setImmediate(r));
      expect(compiledNow()).toBe(2);
      const before = compile.mock.calls.length;
      expect(b()({ b: 2 })).toBe(true);
      expect(c()({ c: 'no' })).toBe(false);
      expect(compile.mock.calls.length).toBe(before);
    } finally {
      compile.mockRestore();
    }
  });
});

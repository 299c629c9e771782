import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_ERROR_CODES, ERROR_CODES } from '../../src/protocol/errors.ts';
import { CtxdError, ERROR_CLASSES, errorFromWire } from '../../src/client/errors.ts';
import { REPO_ROOT } from '../helpers/daemon.ts';

const protocolDoc = readFileSync(join(REPO_ROOT, 'protocol', 'PROTOCOL.md'), 'utf8');
const documented = new Map(
  [...protocolDoc.matchAll(/^\| `([A-Z_]+)` \| (yes|no) \| (yes|no) \|/gm)].map((m) => [m[1]!, { fatal: m[2] === 'yes', retryable: m[3] === 'yes' }]),
);

describe('the error registry', () => {
  it('is exactly the table of PROTOCOL.md §6, with the same fatal and retryable flags', () => {
    expect([...documented.keys()].sort()).toEqual([...ALL_ERROR_CODES].sort());
    for (const code of ALL_ERROR_CODES) {
      expect({ code, ...documented.get(code) }).toEqual({ code, fatal: ERROR_CODES[code].fatal, retryable: ERROR_CODES[code].retryable });
    }
  });

  it('maps every wire code to a client error class by table', () => {
    for (const code of ALL_ERROR_CODES) {
      const err = errorFromWire({ code, message: 'm', retryable: ERROR_CODES[code].retryable });
      expect(err).toBeInstanceOf(ERROR_CLASSES[code]);
      expect(err).toBeInstanceOf(CtxdError);
      expect(err.code).toBe(code);
    }
  });

  it('only sends codes from the registry: no string literal code elsewhere in src/', async () => {
    const { readdirSync, statSync } = await import('node:fs');
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
    const codes = new Set<string>(ALL_ERROR_CODES);
    for (const file of walk(join(REPO_ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new CtxdProtocolError\('([A-Z_]+)'/g)) expect(codes.has(m[1]!), `${file}: ${m[1]}`).toBe(true);
    }
  });
});

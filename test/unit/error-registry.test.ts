import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_ERROR_CODES, CtxdProtocolError, DETAIL_MAX_BYTES, ERROR_CODES, MESSAGE_MAX_BYTES, truncateUtf8 } from '../../src/protocol/errors.ts';
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

describe('error text on the wire', () => {
  it('cuts a message or a detail to its bound in UTF-8 bytes, never inside a character, marked with "…"', () => {
    expect(truncateUtf8('short', 16)).toBe('short');
    expect(truncateUtf8('x'.repeat(16), 16)).toBe('x'.repeat(16));
    expect(truncateUtf8('x'.repeat(17), 16)).toBe(`${'x'.repeat(13)}…`);
    for (const unit of ['é', '漢', '😀']) {
      for (let n = 1; n < 40; n++) {
        const cut = truncateUtf8(unit.repeat(n), 16);
        expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(16);
        // Whole characters only: no lone surrogate, no replacement character once encoded.
        expect(Buffer.from(cut).toString()).toBe(cut);
        expect(cut.replace(/…$/, '').length % unit.length).toBe(0);
      }
    }
  });

  it('bounds what a peer\'s field name can make an error (a 4 MB key would come back twice, past max_frame_bytes)', () => {
    const field = `body.${'k'.repeat(4_000_000)}`;
    const wire = new CtxdProtocolError('BAD_REQUEST', `${field} is not a known field`, { details: { field, limit: 3 } }).toWire();
    expect(Buffer.byteLength(wire.message)).toBeLessThanOrEqual(MESSAGE_MAX_BYTES);
    expect(wire.message.startsWith('body.kkk')).toBe(true);
    expect(wire.details).toEqual({ field: truncateUtf8(field, DETAIL_MAX_BYTES), limit: 3 });
    expect(Buffer.byteLength((wire.details as { field: string }).field)).toBeLessThanOrEqual(DETAIL_MAX_BYTES);
    // A store_batch item's error has 1 KiB (store-batch.ts BATCH_RESULT_BYTES), whatever the characters.
    const cjk = new CtxdProtocolError('BAD_REQUEST', '漢'.repeat(10_000), { details: { field: '漢'.repeat(10_000) } }).toWire();
    expect(Buffer.byteLength(JSON.stringify(cjk))).toBeLessThan(1024);
  });
});

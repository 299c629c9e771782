/** The audit file: rotated by size keeping N old files, authentication failures aggregated per address and window. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

function fresh(maxBytes: number, keep: number) {
  const dir = tempDataDir();
  dirs.push(dir);
  const file = join(dir, 'audit.log');
  const clock = { now: Date.UTC(2026, 0, 1) };
  return { file, clock, log: new AuditLog({ file, maxBytes, keep, now: () => clock.now }) };
}

describe('audit log', () => {
  it('rotates by size and keeps the configured number of old files, owner-only', () => {
    const { file, log } = fresh(1000, 2);
    for (let i = 0; i < 60; i++) log.op({ kid: 'k', tenant: 't', op: 'delete', id: `r${i}`, outcome: 'ok', counts: { deleted: 1 } });
    log.close();
    for (const f of [file, `${file}.1`, `${file}.2`]) {
      expect(statSync(f).size).toBeLessThanOrEqual(1000);
      expect(statSync(f).mode & 0o777).toBe(0o600);
    }
    expect(existsSync(`${file}.3`)).toBe(false);
    const last = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string });
    expect(last.at(-1)!.id).toBe('r59');
  });

  it('writes one line per address and window for authentication failures, whatever their number', () => {
    const { file, clock, log } = fresh(1 << 20, 1);
    for (let i = 0; i < 10_000; i++) log.authFailure(`10.0.0.${i % 2}:${40_000 + i}`, i % 10 === 0 ? 'UNKNOWN_KEY' : 'BAD_SIGNATURE');
    clock.now += 60_000;
    log.flushFailures();
    log.authFailure('10.0.0.9:1', 'BAD_SIGNATURE');
    log.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ event: 'auth_failures', remote: '10.0.0.0', count: 5000, codes: { UNKNOWN_KEY: 1000, BAD_SIGNATURE: 4000 }, since: '2026-01-01T00:00:00.000Z' }),
      expect.objectContaining({ event: 'auth_failures', remote: '10.0.0.1', count: 5000, codes: { BAD_SIGNATURE: 5000 } }),
      expect.objectContaining({ event: 'auth_failures', remote: '10.0.0.9', count: 1, since: '2026-01-01T00:01:00.000Z' }),
    ]);
  });
});

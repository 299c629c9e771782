/** Refusal log lines are throttled per key and code, never per request. */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { RejectionLog } from '../../src/server/rejection-log.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, sink) };
}

describe('RejectionLog', () => {
  it('writes one line per key and code per interval, then says how many it left out', async () => {
    const { lines, log } = capture();
    let now = 0;
    const r = new RejectionLog(log, 1000, () => now);
    for (let i = 0; i < 10_000; i++) r.note('k1', 'RATE_LIMITED', 'request rejected', { op: 'ping' });
    r.note('k2', 'RATE_LIMITED', 'request rejected', { op: 'ping' });
    r.note('k1', 'REPLAY', 'request rejected', { op: 'store' });
    now = 1000;
    r.note('k1', 'RATE_LIMITED', 'request rejected', { op: 'ping' });
    await new Promise((res) => setImmediate(res));
    expect(lines.map((l) => [l.kid, l.code, l.suppressed_since_last])).toEqual([
      ['k1', 'RATE_LIMITED', undefined],
      ['k2', 'RATE_LIMITED', undefined],
      ['k1', 'REPLAY', undefined],
      ['k1', 'RATE_LIMITED', 9_999],
    ]);
  });
});

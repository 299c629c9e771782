/** The connection layer over in-memory stream pairs: no sockets. */
import { duplexPair } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../src/auth/keyring.ts';
import { defaultConfig } from '../../src/config/load.ts';
import { unpackMessage } from '../../src/protocol/codec.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { SharedByteBudget } from '../../src/server/byte-budget.ts';
import { Connection } from '../../src/server/connection.ts';
import { Dispatcher } from '../../src/server/dispatcher.ts';
import { pingHandler } from '../../src/server/handlers/ping.ts';
import { ReplayGuard } from '../../src/server/replay-guard.ts';
import { ServerStats } from '../../src/server/stats.ts';
import { requestFrame } from '../helpers/raw-socket.ts';

const secret = Buffer.alloc(32, 3);
const kid = 'unit';

function setup(maxInflight: number) {
  const base = defaultConfig();
  const config = { ...base, server: { ...base.server, max_inflight_per_connection: maxInflight } };
  const gates: Array<() => void> = [];
  const started: string[] = [];
  const dispatcher = new Dispatcher().register(pingHandler()).register({
    op: 'slow',
    role: 'agent',
    schema: { type: 'object', properties: { n: { type: 'integer' } } },
    handle: (body: { n: number }) =>
      new Promise((resolve) => {
        started.push(String(body.n));
        gates.push(() => resolve({ n: body.n }));
      }),
  });
  const [serverSide, clientSide] = duplexPair();
  const stats = new ServerStats();
  const conn = new Connection(serverSide, {
    config,
    keyring: new Keyring([{ kid, secret, tenant: 't', role: 'agent' }]),
    replay: new ReplayGuard({ skewMs: 30_000, maxIds: 10_000, now: Date.now() }),
    dispatcher,
    budget: new SharedByteBudget(1 << 20),
    stats,
    log: pino({ level: 'silent' }),
    isShuttingDown: () => false,
  });
  const answers: Array<Record<string, any>> = [];
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, acceptDiagnostics: true });
  clientSide.on('data', (chunk: Buffer) => {
    for (const f of decoder.write(chunk).frames) answers.push(unpackMessage(f.body) as Record<string, any>);
  });
  return { conn, clientSide, gates, started, answers, stats };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('Connection', () => {
  it('starts no more than max_inflight requests, and the rest once answers drain', async () => {
    const { clientSide, gates, started, answers, conn } = setup(2);
    clientSide.write(Buffer.concat([1, 2, 3, 4, 5].map((n) => requestFrame(kid, secret, { id: `s${n}`, op: 'slow', body: { n } }))));
    await tick();
    expect(started).toEqual(['1', '2']);
    expect(conn.inflightCount).toBe(2);
    gates.shift()!();
    await tick();
    expect(started).toEqual(['1', '2', '3']);
    while (gates.length) {
      gates.shift()!();
      await tick();
    }
    expect(started).toEqual(['1', '2', '3', '4', '5']);
    expect(answers.map((a) => a.id).sort()).toEqual(['s1', 's2', 's3', 's4', 's5']);
  });

  it('answers pipelined sync requests in one write per tick', async () => {
    const { clientSide, answers, stats } = setup(64);
    let writes = 0;
    clientSide.on('data', () => writes++);
    clientSide.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => requestFrame(kid, secret, { id: `p${i}` }))));
    await tick();
    expect(answers).toHaveLength(50);
    expect(writes).toBe(1);
    expect(stats.requests.get('ping')?.get('ok')).toBe(50);
  });

  it('stops reading while the peer does not read its answers, and loses nothing when it does', async () => {
    const { clientSide, stats } = setup(64);
    clientSide.pause();
    const frames = Array.from({ length: 4000 }, (_, i) => requestFrame(kid, secret, { id: `w${i}` }));
    // Sent in batches across ticks, as TCP delivers them, so the server flushes between batches.
    for (let i = 0; i < frames.length; i += 100) {
      clientSide.write(Buffer.concat(frames.slice(i, i + 100)));
      await new Promise((r) => setImmediate(r));
    }
    await tick();
    // The answers back up unread, the server pauses reading, so most requests wait in the pipe.
    const processedWhileBlocked = stats.requests.get('ping')?.get('ok') ?? 0;
    expect(processedWhileBlocked).toBeGreaterThan(0);
    expect(processedWhileBlocked).toBeLessThan(frames.length);
    const answered = new Set<string>();
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    clientSide.on('data', (chunk: Buffer) => {
      for (const f of decoder.write(chunk).frames) answered.add((unpackMessage(f.body) as { id: string }).id);
    });
    clientSide.resume();
    for (let i = 0; i < 100 && answered.size < frames.length; i++) await tick();
    expect(answered.size).toBe(frames.length);
  });
});

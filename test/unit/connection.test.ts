/** The connection layer over in-memory stream pairs: no sockets. */
import { duplexPair } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../src/auth/keyring.ts';
import { defaultConfig } from '../../src/config/load.ts';
import { unpackMessage } from '../../src/protocol/codec.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { SharedByteBudget } from '../../src/server/byte-budget.ts';
import { GlobalAnswerBudget } from '../../src/server/answer-budget.ts';
import type { Config } from '../../src/config/schema.ts';
import { Connection } from '../../src/server/connection.ts';
import { Dispatcher } from '../../src/server/dispatcher.ts';
import { pingHandler } from '../../src/server/handlers/ping.ts';
import { ReplayGuard } from '../../src/server/replay-guard.ts';
import { ServerStats } from '../../src/server/stats.ts';
import { RejectionLog } from '../../src/server/rejection-log.ts';
import type { AnswerMessage } from '../helpers/answers.ts';
import { requestFrame } from '../helpers/raw-socket.ts';

const secret = Buffer.alloc(32, 3);
const kid = 'unit';

/** Counts turns of the event loop (one per check phase), to see how much one connection does per turn. */
const turns = { n: 0, running: false };
function countTurns(): () => void {
  turns.running = true;
  const step = () => {
    turns.n++;
    if (turns.running) setImmediate(step);
  };
  setImmediate(step);
  return () => (turns.running = false);
}

function setup(maxInflight: number, server: Partial<Config['server']> = {}, journal?: (kid: string, id: string, ts: number) => Promise<void>) {
  const base = defaultConfig();
  const config = { ...base, server: { ...base.server, max_inflight_per_connection: maxInflight, ...server } };
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
  }).register({
    op: 'slowWrite',
    role: 'agent',
    mutating: true,
    schema: { type: 'object' },
    handle: () => new Promise((resolve) => gates.push(() => resolve({ done: true }))),
  }).register({
    op: 'mark',
    role: 'agent',
    schema: { type: 'object' },
    handle: () => ({ turn: turns.n }),
  }).register({
    op: 'exotic',
    role: 'agent',
    schema: { type: 'object' },
    // A handler bug: a value outside the wire model must become INTERNAL, never a crash or a packed typed array.
    handle: () => ({ v: new Float64Array(4) }),
  });
  const [serverSide, clientSide] = duplexPair();
  const stats = new ServerStats();
  const conn = new Connection(serverSide, {
    config,
    keyring: new Keyring([{ kid, secret, tenant: 't', role: 'agent' }]),
    replay: new ReplayGuard({ skewMs: 30_000, maxIdsPerKey: 10_000 }),
    dispatcher,
    budgets: { preauth: new SharedByteBudget(1 << 20), main: new SharedByteBudget(1 << 20) },
    answers: new GlobalAnswerBudget(config.server.answer_queue_bytes_total),
    stats,
    log: pino({ level: 'silent' }),
    rejections: new RejectionLog(pino({ level: 'silent' })),
    isShuttingDown: () => false,
    journal,
  });
  const answers: AnswerMessage[] = [];
  let ended = false;
  clientSide.on('end', () => (ended = true));
  const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, acceptDiagnostics: true });
  clientSide.on('data', (chunk: Buffer) => {
    for (const f of decoder.write(chunk).frames) answers.push(unpackMessage(f.body) as AnswerMessage);
  });
  return { conn, serverSide, clientSide, gates, started, answers, stats, ended: () => ended };
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

  it('a journal write that fails before its op settles (a full disk) is no unhandled rejection; the op is answered', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let journalFailed!: () => void;
      const failedNow = new Promise<void>((r) => (journalFailed = r));
      // Rejects a turn later, with no handler of its own: only the connection may handle it.
      const journal = () =>
        new Promise<void>((_, reject) =>
          setImmediate(() => {
            reject(new Error('disk full'));
            journalFailed();
          }),
        );
      const { clientSide, gates, answers } = setup(4, {}, journal);
      clientSide.write(requestFrame(kid, secret, { id: 'w1', op: 'slowWrite', body: {} }));
      await failedNow;
      // Turns pass with the op held: Node reports an unhandled rejection at the end of the turn it happened in.
      await tick();
      expect(gates).toHaveLength(1);
      gates.shift()!();
      await tick();
      expect(answers.map((a) => [a.id, a.ok])).toEqual([['w1', true]]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
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

  it('writes the answers a read produces at once before its data handler returns; an async answer follows from a tick', async () => {
    const { serverSide, gates, answers } = setup(64);
    const writes: number[] = [];
    const write = serverSide.write.bind(serverSide) as (chunk: Buffer) => boolean;
    (serverSide as { write: (chunk: Buffer) => boolean }).write = (chunk: Buffer) => (writes.push(chunk.length), write(chunk));
    serverSide.emit('data', Buffer.concat([requestFrame(kid, secret, { id: 'a' }), requestFrame(kid, secret, { id: 'b' })]));
    // Both pings answered, in one write, before emit returned: no tick in between.
    expect(writes).toHaveLength(1);
    serverSide.emit('data', requestFrame(kid, secret, { id: 's', op: 'slow', body: { n: 1 } }));
    expect(writes).toHaveLength(1);
    gates[0]!();
    await tick();
    expect(writes).toHaveLength(2);
    expect(answers.map((x) => x.id)).toEqual(['a', 'b', 's']);
  });

  it('stops reading while the peer does not read its answers, and loses nothing when it does', async () => {
    const { clientSide, stats } = setup(64, { answer_queue_bytes_per_connection: 64 * 1024 });
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

  it('takes at most 64 frames of one connection per turn of the event loop', async () => {
    const { clientSide, answers } = setup(64);
    const stop = countTurns();
    clientSide.write(Buffer.concat(Array.from({ length: 300 }, (_, i) => requestFrame(kid, secret, { id: `m${i}`, op: 'mark' }))));
    for (let i = 0; i < 50 && answers.length < 300; i++) await tick();
    stop();
    expect(answers).toHaveLength(300);
    const perTurn = new Map<number, number>();
    // The `mark` op answers the turn it ran in.
    for (const a of answers) perTurn.set(a.body.turn as number, (perTurn.get(a.body.turn as number) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBe(64);
  });

  it('answers every request of a peer that half-closes after sending', async () => {
    const { clientSide, gates, answers, ended } = setup(4);
    clientSide.end(Buffer.concat([requestFrame(kid, secret, { id: 'h1', op: 'slow', body: { n: 1 } }), requestFrame(kid, secret, { id: 'h2' })]));
    await tick();
    expect(ended()).toBe(false);
    gates.shift()!();
    await tick();
    expect(answers.map((a) => a.id).sort()).toEqual(['h1', 'h2']);
    expect(ended()).toBe(true);
  });

  it('dispatches nothing once closing, but answers what is in flight, then sends the diagnostic', async () => {
    const { conn, clientSide, gates, started, answers } = setup(4);
    clientSide.write(requestFrame(kid, secret, { id: 'c1', op: 'slow', body: { n: 1 } }));
    await tick();
    conn.close({ code: 'SHUTTING_DOWN', message: 'bye' });
    clientSide.write(requestFrame(kid, secret, { id: 'c2', op: 'slow', body: { n: 2 } }));
    await tick();
    expect(started).toEqual(['1']);
    gates.shift()!();
    await tick();
    expect(answers.map((a) => a.id)).toEqual(['c1', '']);
    expect(answers[1]!.error.code).toBe('SHUTTING_DOWN');
  });

  it('answers INTERNAL with the request id when an answer cannot be encoded', async () => {
    const { clientSide, answers } = setup(4);
    clientSide.write(requestFrame(kid, secret, { id: 'x1', op: 'exotic' }));
    await tick();
    expect(answers).toEqual([expect.objectContaining({ id: 'x1', ok: false, error: expect.objectContaining({ code: 'INTERNAL' }) })]);
  });

  it('closes a connection that sends no verified frame within the handshake deadline', async () => {
    const { answers, ended } = setup(4, { handshake_timeout_ms: 100 });
    await new Promise((r) => setTimeout(r, 250));
    expect(answers).toEqual([expect.objectContaining({ id: '', error: expect.objectContaining({ code: 'BAD_FRAME' }) })]);
    expect(ended()).toBe(true);
  });

  it('refuses a first frame above preauth_max_frame_bytes before buffering it, but not a later one', async () => {
    const big = requestFrame(kid, secret, { id: 'big', op: 'slow', body: { n: 1, pad: 'x'.repeat(100_000) } });
    const first = setup(4);
    first.clientSide.write(big.subarray(0, 6));
    await tick();
    expect(first.answers[0]!.error.code).toBe('FRAME_TOO_LARGE');
    const second = setup(4);
    second.clientSide.write(Buffer.concat([requestFrame(kid, secret, { id: 'hi' }), big]));
    await tick();
    expect(second.answers.map((a) => a.id)).toEqual(['hi']);
    expect(second.started).toEqual(['1']);
  });
});

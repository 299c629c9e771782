/**
 * The load generator: one process, run pinned to its own core, that drives
 * Redis (RESP) or ctxd (signed frames) with identical connection and in-flight
 * logic: `connections` sockets, each keeping `inflight` requests outstanding,
 * for `durationMs`. Prints one JSON line: requests, requests/s, latency
 * percentiles and the generator's own CPU use (to show it is not the limit).
 *
 *   node bench/loadgen.ts '{"target":"redis","port":6379,"op":"ping","connections":50,"inflight":1,"durationMs":5000}'
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { FrameDecoder } from '../src/protocol/decoder.ts';
import { encodeFrame } from '../src/protocol/frame.ts';
import { computeTag, signingKey } from '../src/protocol/signer.ts';
import { englishLike } from './lib/texts.ts';

export interface LoadSpec {
  target: 'redis' | 'ctxd';
  host?: string;
  port: number;
  op: 'ping' | 'set' | 'store' | 'store_batch' | 'retrieve';
  connections: number;
  inflight: number;
  durationMs: number;
  warmupMs?: number;
  kid?: string;
  secretHex?: string;
  /** Bytes of text per stored item (store, store_batch, set). */
  textBytes?: number;
  batchItems?: number;
  /** Queries for retrieve, used round-robin. */
  queries?: string[];
  maxTokens?: number;
}

export interface LoadResult {
  requests: number;
  items: number;
  rps: number;
  itemsPerSec: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  cpu_pct: number;
}

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
let seq = 0;
const text = (bytes: number): string => englishLike(seq++, bytes);

/** One protocol's way to make a request and to count the replies in a chunk. */
interface Protocol {
  request(): Buffer;
  /**
   * A request to send and have answered before the load starts, or null. ctxd refuses a connection's
   * first frame above preauth_max_frame_bytes (64 KiB) before any frame has verified: a store_batch of
   * 1,000 × 2 KB as the first frame would be FRAME_TOO_LARGE and the connection closed, so each ctxd
   * connection verifies with a ping first.
   */
  opening(): Buffer | null;
  /** Replies completed by this chunk, and how many of them were errors. */
  replies(chunk: Buffer): { n: number; errors: number };
  items: number;
}

function redisProtocol(): Protocol {
  const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');
  return {
    items: 1,
    opening: () => null,
    request() {
      if (spec.op === 'ping') return PING;
      const key = `k${seq}`;
      const value = text(spec.textBytes ?? 200);
      return Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${Buffer.byteLength(value)}\r\n${value}\r\n`);
    },
    replies(chunk) {
      // PING and SET answer one line each (+PONG, +OK, or -ERR ...).
      let n = 0;
      let errors = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] === 0x0a) n++;
        else if (chunk[i] === 0x2d && (i === 0 || chunk[i - 1] === 0x0a)) errors++;
      }
      return { n, errors };
    },
  };
}

function ctxdProtocol(): Protocol {
  const key = signingKey(Buffer.from(spec.secretHex!, 'hex'));
  const prefix = randomBytes(4).toString('hex');
  const decoder = new FrameDecoder({ maxFrameBytes: 64 << 20, acceptDiagnostics: true });
  let q = 0;
  const body = (): Record<string, unknown> => {
    switch (spec.op) {
      case 'ping':
        return {};
      case 'store':
        return { text: text(spec.textBytes ?? 200), level: 3 };
      case 'store_batch':
        return { items: Array.from({ length: spec.batchItems ?? 100 }, () => ({ text: text(spec.textBytes ?? 200), level: 3 })) };
      case 'retrieve':
        return { query: spec.queries![q++ % spec.queries!.length]!, max_tokens: spec.maxTokens ?? 2000 };
      default:
        throw new Error(`op ${spec.op} is not a ctxd op`);
    }
  };
  const op = spec.op === 'set' ? 'store' : spec.op;
  // Pings are framed from a template (only id, ts and the tag change), so the generator's cost per
  // request is little more than the HMAC every client must compute, and it stays off the critical path.
  const template = encodeFrame(spec.kid!, key, { id: `${prefix}-${'0'.repeat(10)}`, ts: Date.now(), op: 'ping', body: {} });
  const idAt = template.indexOf(Buffer.from(`${prefix}-`)) + prefix.length + 1;
  const tsAt = template.indexOf(Buffer.from([0xa2, 0x74, 0x73, 0xd3])) + 4;
  const signedLen = template.length - 32;
  const ping = (): Buffer => {
    const f = Buffer.from(template);
    f.write((seq++).toString(36).padStart(10, '0'), idAt, 'latin1');
    f.writeBigInt64BE(BigInt(Date.now()), tsAt);
    computeTag(key, f.subarray(0, signedLen)).copy(f, signedLen);
    return f;
  };
  return {
    items: spec.op === 'store_batch' ? (spec.batchItems ?? 100) : 1,
    opening: ping,
    request: () => (spec.op === 'ping' ? ping() : encodeFrame(spec.kid!, key, { id: `${prefix}-${seq++}`, ts: Date.now(), op, body: body() })),
    replies(chunk) {
      // Answers are counted by frame; an error answer has `ok: false` (0xc2 after "ok").
      const { frames } = decoder.write(chunk);
      let errors = 0;
      for (const f of frames) if (f.body.includes(OK_FALSE)) errors++;
      return { n: frames.length, errors };
    },
  };
}
const OK_FALSE = Buffer.from([0xa2, 0x6f, 0x6b, 0xc2]);

async function drive(): Promise<LoadResult> {
  const latencies = new Float64Array(4_000_000);
  let count = 0;
  let errors = 0;
  let measuring = false;
  let stopped = false;
  const warmup = spec.warmupMs ?? 500;
  const sockets: Socket[] = [];

  await Promise.all(
    Array.from({ length: spec.connections }, () =>
      new Promise<void>((resolve, reject) => {
        const proto = spec.target === 'redis' ? redisProtocol() : ctxdProtocol();
        const sentAt: number[] = [];
        let head = 0;
        const opening = proto.opening();
        let opened = opening === null;
        const s = connect({ host: spec.host ?? '127.0.0.1', port: spec.port, noDelay: true }, () => {
          sockets.push(s);
          if (opening) s.write(opening);
          else resolve();
        });
        s.once('error', reject);
        const send = (n: number) => {
          if (stopped) return;
          const bufs: Buffer[] = [];
          for (let i = 0; i < n; i++) {
            sentAt.push(performance.now());
            bufs.push(proto.request());
          }
          s.write(n === 1 ? bufs[0]! : Buffer.concat(bufs));
        };
        (s as Socket & { start?: () => void }).start = () => send(spec.inflight);
        s.on('data', (chunk: Buffer) => {
          const { n: all, errors: e } = proto.replies(chunk);
          let n = all;
          if (!opened && n > 0) {
            // The opening request's answer: the connection is ready; nothing of the load is in flight yet.
            opened = true;
            n--;
            resolve();
            if (n === 0) return;
          }
          const now = performance.now();
          for (let i = 0; i < n; i++) {
            // Replies are matched first-in first-out: every request on a connection is the same op.
            const t = sentAt[head++]!;
            if (measuring && count < latencies.length) latencies[count++] = now - t;
          }
          if (head > 4096) {
            sentAt.splice(0, head);
            head = 0;
          }
          if (measuring) errors += e;
          send(n);
        });
      }),
    ),
  );
  for (const s of sockets) (s as Socket & { start: () => void }).start();
  await new Promise((r) => setTimeout(r, warmup));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, spec.durationMs));
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stopped = true;
  for (const s of sockets) s.destroy();
  const sorted = latencies.subarray(0, count).sort();
  const pct = (p: number) => (count ? sorted[Math.min(count - 1, Math.floor(p * count))]! : NaN);
  const items = spec.target === 'ctxd' && spec.op === 'store_batch' ? spec.batchItems ?? 100 : 1;
  return {
    requests: count,
    items: count * items,
    rps: count / elapsed,
    itemsPerSec: (count * items) / elapsed,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    max_ms: count ? sorted[count - 1]! : NaN,
    errors,
    cpu_pct: ((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100,
  };
}

drive().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`loadgen: ${(e as Error).message}\n`);
    process.exit(1);
  },
);

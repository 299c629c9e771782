/**
 * Tools for the hostile-client suite (test/hostile/): hand-built MessagePack
 * bytes, a raw TCP peer that keeps every byte it receives and parses frames
 * leniently (so a malformed answer is a finding, not a crash of the test), the
 * daemon's RSS and metrics, and the "is the daemon still fine" check every
 * case ends with.
 *
 * Nothing here sleeps and hopes: waits are for a frame, a close, a log line or
 * a metric value, with a deadline that only bounds a failure.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';
import { ANSWER_LIMITS, decodeMessage } from '../../src/protocol/codec.ts';
import { ERROR_CODES, isErrorCode } from '../../src/protocol/errors.ts';
import { encodeFrame, frameBody } from '../../src/protocol/frame.ts';
import type { Body } from '../../src/protocol/messages.ts';
import { signingKey, verifyTag, type SigningKey } from '../../src/protocol/signer.ts';
import type { OpAnswer, OpName } from '../../src/client/index.ts';
import type { AnswerBody, AnswerMessage } from './answers.ts';
import type { LogLine, RunningDaemon } from './daemon.ts';
import type { TenantKey } from './tenants.ts';

/* ------------------------------------------------------------------------ */
/* MessagePack bytes by hand                                                 */
/* ------------------------------------------------------------------------ */

const u8 = (...b: number[]) => Buffer.from(b);
const be16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const be32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** MessagePack encoders that do exactly what they are told (no validation). */
export const mp = {
  nil: () => u8(0xc0),
  bool: (v: boolean) => u8(v ? 0xc3 : 0xc2),
  /** Smallest encoding of a safe integer. */
  int(n: number): Buffer {
    if (n >= 0 && n < 128) return u8(n);
    if (n < 0 && n >= -32) return u8(n & 0xff);
    if (n >= 0 && n <= 0xffffffff) return Buffer.concat([u8(0xce), be32(n)]);
    return mp.int64(n);
  },
  int64(n: number | bigint): Buffer {
    const b = Buffer.alloc(9);
    b[0] = 0xd3;
    b.writeBigInt64BE(BigInt(n), 1);
    return b;
  },
  uint64(n: bigint): Buffer {
    const b = Buffer.alloc(9);
    b[0] = 0xcf;
    b.writeBigUInt64BE(n, 1);
    return b;
  },
  f64(x: number): Buffer {
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(x, 1);
    return b;
  },
  /** A str with these exact bytes (valid UTF-8 or not). */
  strBytes(bytes: Uint8Array): Buffer {
    const n = bytes.length;
    const head = n < 32 ? u8(0xa0 | n) : n < 256 ? u8(0xd9, n) : n < 65536 ? Buffer.concat([u8(0xda), be16(n)]) : Buffer.concat([u8(0xdb), be32(n)]);
    return Buffer.concat([head, bytes]);
  },
  str: (s: string) => mp.strBytes(Buffer.from(s, 'utf8')),
  bin: (bytes: Uint8Array) => Buffer.concat([u8(0xc4, bytes.length), bytes]),
  arr(items: readonly Buffer[]): Buffer {
    const n = items.length;
    const head = n < 16 ? u8(0x90 | n) : n < 65536 ? Buffer.concat([u8(0xdc), be16(n)]) : Buffer.concat([u8(0xdd), be32(n)]);
    return Buffer.concat([head, ...items]);
  },
  /** A map from [key bytes, value bytes] pairs (keys may be anything). */
  mapRaw(entries: ReadonlyArray<readonly [Buffer, Buffer]>): Buffer {
    const n = entries.length;
    const head = n < 16 ? u8(0x80 | n) : n < 65536 ? Buffer.concat([u8(0xde), be16(n)]) : Buffer.concat([u8(0xdf), be32(n)]);
    return Buffer.concat([head, ...entries.flatMap(([k, v]) => [k, v])]);
  },
  /** A map with string keys. */
  map(entries: Record<string, Buffer>): Buffer {
    return mp.mapRaw(Object.entries(entries).map(([k, v]) => [mp.str(k), v] as const));
  },
  /** Any ext: fixext 1/2/4/8/16 when the length allows (unless `form` says otherwise), else ext8/16/32. */
  ext(type: number, data: Uint8Array, form?: 'fixext' | 'ext8' | 'ext16' | 'ext32'): Buffer {
    const t = type & 0xff;
    const fix = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 } as Record<number, number>;
    const f = form ?? (fix[data.length] !== undefined ? 'fixext' : data.length < 256 ? 'ext8' : data.length < 65536 ? 'ext16' : 'ext32');
    if (f === 'fixext') return Buffer.concat([u8(fix[data.length]!, t), data]);
    if (f === 'ext8') return Buffer.concat([u8(0xc7, data.length, t), data]);
    if (f === 'ext16') return Buffer.concat([u8(0xc8), be16(data.length), u8(t), data]);
    return Buffer.concat([u8(0xc9), be32(data.length), u8(t), data]);
  },
  /** `depth` arrays nested in each other around `inner`. */
  nestedArrays(depth: number, inner: Buffer = mp.int(1)): Buffer {
    return Buffer.concat([Buffer.alloc(depth, 0x91), inner]);
  },
  /** A request envelope around already-encoded body bytes. */
  request(fields: { id: string; op: string; ts?: number; body?: Buffer }): Buffer {
    const e: Record<string, Buffer> = { id: mp.str(fields.id), ts: mp.int64(fields.ts ?? Date.now()), op: mp.str(fields.op) };
    if (fields.body) e.body = fields.body;
    return mp.map(e);
  },
};

/* ------------------------------------------------------------------------ */
/* Frames                                                                    */
/* ------------------------------------------------------------------------ */

const keyCache = new WeakMap<Buffer, SigningKey>();
export function keyOf(k: { secret: Buffer }): SigningKey {
  let s = keyCache.get(k.secret);
  if (!s) keyCache.set(k.secret, (s = signingKey(k.secret)));
  return s;
}

/** A signed frame around hand-built body bytes. */
export function signedBody(k: { kid: string; secret: Buffer }, body: Uint8Array): Buffer {
  return frameBody(k.kid, keyOf(k), body);
}

/** A signed frame of a message the reference encoder accepts. */
export function signedMessage(k: { kid: string; secret: Buffer }, message: Record<string, unknown>): Buffer {
  return encodeFrame(k.kid, keyOf(k), message);
}

let idCounter = 0;
export const freshId = (prefix = 'h') => `${prefix}-${process.pid.toString(36)}-${(idCounter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** A received frame; `B` is its answer body's type when the op is known (Peer.request), any map otherwise. */
export interface Frame<B = Body> {
  /** The `len` field as received. */
  readonly len: number;
  readonly ver: number;
  readonly kid: string;
  readonly tag: Buffer;
  readonly body: Buffer;
  readonly diagnostic: boolean;
  /** The decoded message, when it decodes within the answer limits. */
  readonly message: AnswerMessage<B> | undefined;
  /** Why the body did not decode (a finding: the daemon sent something outside the wire model). */
  readonly decodeError: string | undefined;
  /** For signed frames of a kid the peer knows: whether the tag verifies. */
  readonly tagOk: boolean | undefined;
}

export interface PeerOptions {
  /** Keep every received chunk (for byte scans). Default true. */
  readonly keepRaw?: boolean;
  /** Keep parsed frames in `frames`. Default true. */
  readonly keepFrames?: boolean;
  /** Called for every frame (also when not kept). */
  readonly onFrame?: (f: Frame) => void;
  /** Keys whose answers are verified. */
  readonly keys?: ReadonlyArray<{ kid: string; secret: Buffer }>;
  /** Do not read at all (the socket is paused from the start): a peer that never reads its answers. */
  readonly neverRead?: boolean;
}

/**
 * A raw TCP peer. Parses whatever comes back as frames without trusting it:
 * any len, any kid, bodies decoded with the client's answer limits and the
 * result (or the failure) recorded.
 */
export class Peer {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  readonly raw: Buffer[] = [];
  readonly closed: Promise<void>;
  bytesIn = 0;
  frameCount = 0;
  /** Frames that did not decode, and signed frames whose tag did not verify. */
  readonly anomalies: string[] = [];
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private isClosed = false;
  private readonly opts: PeerOptions;
  private readonly keys = new Map<string, SigningKey>();
  private readonly byId = new Map<string, Frame>();
  private waiters: Array<() => void> = [];

  private constructor(socket: Socket, opts: PeerOptions) {
    this.socket = socket;
    this.opts = opts;
    for (const k of opts.keys ?? []) this.keys.set(k.kid, keyOf(k));
    socket.on('error', () => {});
    this.closed = new Promise((res) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        res();
      }),
    );
    if (opts.neverRead) socket.pause();
    else socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static open(port: number, opts: PeerOptions = {}): Promise<Peer> {
    return new Promise((res, rej) => {
      const s = connect({ port, host: '127.0.0.1', noDelay: true });
      if (opts.neverRead) s.pause();
      s.once('connect', () => {
        s.off('error', rej);
        res(new Peer(s, opts));
      });
      s.once('error', rej);
    });
  }

  get hasClosed(): boolean {
    return this.isClosed;
  }

  addKey(k: { kid: string; secret: Buffer }): void {
    this.keys.set(k.kid, keyOf(k));
  }

  send(bytes: Uint8Array): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /** Writes, waiting for 'drain' when the socket buffer is full (for floods). */
  async sendPaced(bytes: Uint8Array): Promise<void> {
    if (this.socket.destroyed) return;
    if (!this.socket.write(bytes)) {
      await new Promise<void>((res) => {
        const done = () => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          res();
        };
        this.socket.once('drain', done);
        this.socket.once('close', done);
      });
    }
  }

  /** Sends a signed request with the reference encoder and resolves with its answer. */
  async request<O extends string>(k: TenantKey | { kid: string; secret: Buffer }, op: O, body?: Record<string, unknown>, opts: { id?: string; ts?: number; ms?: number } = {}): Promise<Frame<AnswerBody<O>>> {
    this.addKey(k);
    const id = opts.id ?? freshId(op);
    const msg: Record<string, unknown> = { id, ts: opts.ts ?? Date.now(), op };
    if (body !== undefined) msg.body = body;
    this.send(signedMessage(k, msg));
    // The answer to this request: typed by its op, as expectWellFormed and the test's checks then hold it to.
    return this.answer(id, opts.ms) as Promise<Frame<AnswerBody<O>>>;
  }

  /** Sends a signed frame around hand-built message bytes (whose id is `id`) and resolves with its answer. */
  async requestBytes(k: { kid: string; secret: Buffer }, id: string, message: Buffer, ms?: number): Promise<Frame> {
    this.addKey(k);
    this.send(signedBody(k, message));
    return this.answer(id, ms);
  }

  /** The answer with this id (waits for it). */
  answer(id: string, ms = 15_000): Promise<Frame> {
    return this.waitFor(() => this.byId.get(id), `answer to ${id}`, ms);
  }

  /** Resolves with the n-th frame (0-based). */
  frame(n = 0, ms = 15_000): Promise<Frame> {
    return this.waitFor(() => this.frames[n], `frame #${n}`, ms);
  }

  /** Waits until `probe` returns something, a frame or a close at a time; rejects on close or after `ms`. */
  waitFor<T>(probe: () => T | undefined, what: string, ms = 15_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        const v = probe();
        if (v !== undefined) {
          clearTimeout(timer);
          resolve(v);
          return true;
        }
        if (this.isClosed) {
          clearTimeout(timer);
          reject(new Error(`connection closed while waiting for ${what} (${this.frameCount} frames received${this.lastDiagnostic ? `, last diagnostic ${this.lastDiagnostic}` : ''})`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== onWake);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (${this.frameCount} frames received)`));
      }, ms);
      const onWake = () => {
        if (!check()) this.waiters.push(onWake);
      };
      if (!check()) this.waiters.push(onWake);
    });
  }

  /** Resolves once `n` frames have arrived in all. */
  async waitFrames(n: number, ms = 30_000): Promise<void> {
    await this.waitFor(() => (this.frameCount >= n ? true : undefined), `${n} frames`, ms);
  }

  /** Sends `bytes` and resolves with the next frame (for answers whose id is "", or diagnostics). Needs keepFrames. */
  exchange(bytes: Uint8Array, ms = 15_000): Promise<Frame> {
    const n = this.frames.length;
    this.send(bytes);
    return this.frame(n, ms);
  }

  private lastDiagnostic: string | undefined;

  /** Every byte received so far, in one buffer. */
  received(): Buffer {
    return Buffer.concat(this.raw);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    if (this.opts.keepRaw !== false) this.raw.push(chunk);
    this.pending.push(chunk);
    this.pendingLen += chunk.length;
    let cut = false;
    for (;;) {
      if (this.pendingLen < 4) break;
      if (this.pending[0]!.length < 4) this.merge();
      const need = 4 + this.pending[0]!.readUInt32BE(0);
      if (this.pendingLen < need) break;
      this.merge();
      const buf = this.pending[0]!;
      let off = 0;
      while (buf.length - off >= 4) {
        const total = 4 + buf.readUInt32BE(off);
        if (buf.length - off < total) break;
        this.onFrame(buf.subarray(off, off + total));
        off += total;
        cut = true;
      }
      const rest = buf.subarray(off);
      this.pending = rest.length ? [rest] : [];
      this.pendingLen = rest.length;
      break;
    }
    if (cut) this.wake();
  }

  private merge(): void {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
  }

  private onFrame(bytes: Buffer): void {
    this.frameCount++;
    const len = bytes.readUInt32BE(0);
    const ver = bytes[4] ?? -1;
    const kidLen = bytes[5] ?? 0;
    const kid = bytes.toString('latin1', 6, 6 + kidLen);
    const tagAt = bytes.length - 32;
    const body = Buffer.from(bytes.subarray(6 + kidLen, Math.max(6 + kidLen, tagAt)));
    const tag = Buffer.from(bytes.subarray(Math.max(0, tagAt)));
    let message: AnswerMessage | undefined;
    let decodeError: string | undefined;
    const out = decodeMessage(body, ANSWER_LIMITS);
    if (out.error) decodeError = `${out.error.path}: ${out.error.message}`;
    else message = out.value as AnswerMessage;
    let tagOk: boolean | undefined;
    const key = kidLen > 0 ? this.keys.get(kid) : undefined;
    if (key) tagOk = verifyTag(key, bytes.subarray(0, tagAt), tag);
    const diagnostic = kidLen === 0;
    if (diagnostic && !tag.equals(Buffer.alloc(32))) this.anomalies.push('diagnostic frame with a non-zero tag');
    if (decodeError) this.anomalies.push(`undecodable answer: ${decodeError}`);
    if (tagOk === false) this.anomalies.push(`answer signed with ${kid} does not verify`);
    if (ver !== 1) this.anomalies.push(`answer with ver ${ver}`);
    const f: Frame = { len, ver, kid, tag, body, diagnostic, message, decodeError, tagOk };
    if (diagnostic && message) this.lastDiagnostic = `${message.error?.code}: ${message.error?.message}`;
    if (this.opts.keepFrames !== false) this.frames.push(f);
    if (message && typeof message.id === 'string' && message.id !== '') this.byId.set(message.id, f);
    this.opts.onFrame?.(f);
  }
}

/** Opens a connection that never reads (its answers pile up on the daemon's side). */
export function openNonReader(port: number): Promise<Peer> {
  return Peer.open(port, { neverRead: true, keepRaw: false });
}

/* ------------------------------------------------------------------------ */
/* Checks on answers                                                         */
/* ------------------------------------------------------------------------ */

/**
 * Asserts a well-formed response (PROTOCOL.md §4.2): id string, integer ts,
 * ok true with a map body, or ok false with a registered code whose
 * retryable flag matches the registry. Returns the error code or 'ok'.
 */
export function expectWellFormed(f: Frame, where = ''): string {
  const ctx = where ? ` (${where})` : '';
  expect(f.decodeError, `answer decodes${ctx}`).toBeUndefined();
  expect(f.ver).toBe(1);
  const m = f.message!;
  expect(typeof m.id, `id is a string${ctx}`).toBe('string');
  expect(Number.isSafeInteger(m.ts), `ts is an integer${ctx}`).toBe(true);
  if (f.diagnostic) {
    expect(f.tag.equals(Buffer.alloc(32)), `diagnostic tag is zero${ctx}`).toBe(true);
    expect(m.id).toBe('');
  } else if (f.tagOk !== undefined) {
    expect(f.tagOk, `answer tag verifies${ctx}`).toBe(true);
  }
  if (m.ok === true) {
    expect(m.body !== null && typeof m.body === 'object' && !Array.isArray(m.body), `ok body is a map${ctx}`).toBe(true);
    expect(f.diagnostic, `a diagnostic is never ok${ctx}`).toBe(false);
    return 'ok';
  }
  expect(m.ok, `ok is a boolean${ctx}`).toBe(false);
  const e = m.error;
  expect(e !== null && typeof e === 'object', `error is a map${ctx}`).toBe(true);
  expect(isErrorCode(e.code), `error code ${String(e.code)} is in the registry${ctx}`).toBe(true);
  expect(typeof e.message).toBe('string');
  expect(e.retryable, `retryable of ${e.code} matches the registry${ctx}`).toBe(ERROR_CODES[e.code as keyof typeof ERROR_CODES].retryable);
  if (e.retry_after_ms !== undefined) expect(Number.isSafeInteger(e.retry_after_ms) && e.retry_after_ms >= 0).toBe(true);
  if (ERROR_CODES[e.code as keyof typeof ERROR_CODES].fatal) expect(f.diagnostic, `fatal ${e.code} comes as a diagnostic${ctx}`).toBe(true);
  return e.code as string;
}

/**
 * The body of `f` read as `op`'s answer, for a frame whose type does not carry
 * its op (one sent with an op chosen at run time, or built by hand).
 */
export function bodyAs<O extends OpName>(_op: O, f: Frame): OpAnswer<O> {
  return f.message!.body as OpAnswer<O>;
}

/** The error code of an answer, or 'ok'. */
export const codeOf = (f: Frame): string => (f.message?.ok === true ? 'ok' : (f.message?.error?.code ?? `undecodable(${f.decodeError})`));

/** Byte offsets where any marker occurs in `haystack`. */
export function findMarkers(haystack: Buffer, markers: readonly string[]): string[] {
  const found: string[] = [];
  for (const m of markers) if (haystack.includes(Buffer.from(m, 'utf8'))) found.push(m);
  return found;
}

/* ------------------------------------------------------------------------ */
/* The daemon process: RSS, metrics, logs                                    */
/* ------------------------------------------------------------------------ */

export function alive(d: RunningDaemon): boolean {
  return d.proc.exitCode === null && d.proc.signalCode === null;
}

/** VmRSS of the daemon process, in bytes. */
export function rssBytes(d: RunningDaemon): number {
  const status = readFileSync(`/proc/${d.proc.pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) * 1024;
}

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of a metric (the sum over samples matching `labels`); 0 when absent. */
export async function metric(d: RunningDaemon, name: string, labels: Record<string, string> = {}): Promise<number> {
  const samples = parseMetrics((await d.http('/metrics')).text);
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

export async function metrics(d: RunningDaemon): Promise<Sample[]> {
  return parseMetrics((await d.http('/metrics')).text);
}

export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/**
 * Polls `probe` until it returns something other than undefined; fails after
 * `ms`. For states the daemon reaches on its own (a metric, a health probe, a
 * timer-driven recovery), never for sleeping instead of synchronising.
 */
export async function waitUntil<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, ms = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves with the first log line (from `from` on) that matches. */
export function waitForLog(d: RunningDaemon, match: (l: LogLine) => boolean, what: string, ms = 20_000, from = 0): Promise<LogLine> {
  return waitUntil(() => d.logs.slice(from).find(match), `log line: ${what}`, ms, 20);
}

/* ------------------------------------------------------------------------ */
/* "The daemon is still fine"                                                */
/* ------------------------------------------------------------------------ */

export interface HealthyCheck {
  /** Marker strings of OTHER tenants: none may appear in any byte this tenant receives. */
  readonly forbidden?: readonly string[];
  readonly ms?: number;
}

/**
 * The check every hostile case ends with (or runs during the attack): the
 * daemon process is alive, and a fresh connection with `key` (a tenant the
 * attack did not use) says hello, pings, stores a text and retrieves it,
 * every answer well-formed and verified, and none of the bytes it received
 * holds another tenant's marker.
 */
export async function expectServes(d: RunningDaemon, key: TenantKey, check: HealthyCheck = {}): Promise<void> {
  const ms = check.ms ?? 15_000;
  expect(alive(d), 'daemon process is alive').toBe(true);
  const peer = await Peer.open(d.port, { keys: [key] });
  try {
    const hello = await peer.request(key, 'hello', { client: 'hostile-check' }, { ms });
    expect(expectWellFormed(hello, 'hello')).toBe('ok');
    expect(hello.message!.body.tenant).toBe(key.tenant);
    const ping = await peer.request(key, 'ping', undefined, { ms });
    expect(expectWellFormed(ping, 'ping')).toBe('ok');
    const word = `probe${Math.random().toString(36).slice(2, 10)}`;
    const stored = await peer.request(key, 'store', { text: `healthy check ${word} zebra quartz`, level: 3 }, { ms });
    expect(expectWellFormed(stored, 'store'), JSON.stringify(stored.message?.error)).toBe('ok');
    const got = await peer.request(key, 'retrieve', { query: `${word} zebra quartz`, levels: [3], max_tokens: 500 }, { ms });
    expect(expectWellFormed(got, 'retrieve')).toBe('ok');
    expect(got.message!.body.contexts.some((c: { id: string }) => c.id === stored.message!.body.id), 'retrieve finds the context just stored').toBe(true);
    if (check.forbidden?.length) expect(findMarkers(peer.received(), check.forbidden), 'bytes of another tenant').toEqual([]);
    expect(peer.anomalies).toEqual([]);
  } finally {
    peer.destroy();
  }
}

/** Pings back to back on a connection of its own until `stop()`, each answered ok; the latencies for a report. */
export async function pingMeanwhile(port: number, key: TenantKey, ms = 60_000): Promise<{ latencies: number[]; stop(): Promise<void> }> {
  const pinger = await Peer.open(port, { keys: [key], keepRaw: false });
  expect(codeOf(await pinger.request(key, 'hello'))).toBe('ok');
  const latencies: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      expect(codeOf(await pinger.request(key, 'ping', undefined, { ms }))).toBe('ok');
      latencies.push(performance.now() - t0);
    }
  })();
  return {
    latencies,
    async stop() {
      stopped = true;
      await loop;
      pinger.destroy();
    },
  };
}

/** Ping round trip on an open peer, in ms. */
export async function pingMs(peer: Peer, key: TenantKey, ms = 15_000): Promise<number> {
  const t = performance.now();
  const f = await peer.request(key, 'ping', undefined, { ms });
  expect(codeOf(f)).toBe('ok');
  return performance.now() - t;
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const MiB = 1024 * 1024;

/** A raw TCP peer for sending hand-made bytes and reading whatever frames come back. */
import { connect, type Socket } from 'node:net';
import { unpackMessage } from '../../src/protocol/codec.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { signingKey } from '../../src/protocol/signer.ts';
import type { AnswerMessage } from './answers.ts';

export interface ReceivedFrame {
  kid: string;
  tag: Buffer;
  message: AnswerMessage;
}

export class RawPeer {
  readonly socket: Socket;
  readonly frames: ReceivedFrame[] = [];
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder({ maxFrameBytes: 64 << 20, acceptDiagnostics: true });
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.write(chunk).frames) {
        this.frames.push({ kid: f.kid, tag: Buffer.from(f.tag), message: unpackMessage(f.body) as AnswerMessage });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.closed = new Promise((res) => socket.once('close', () => res()));
  }

  static open(port: number): Promise<RawPeer> {
    return new Promise((res, rej) => {
      const s = connect({ port, host: '127.0.0.1' }, () => res(new RawPeer(s)));
      s.once('error', rej);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves with the n-th frame received (0-based), waiting up to `ms`. */
  async frame(n = 0, ms = 5000): Promise<ReceivedFrame> {
    const deadline = Date.now() + ms;
    while (this.frames.length <= n) {
      if (Date.now() > deadline) throw new Error(`no frame #${n} within ${ms} ms (got ${this.frames.length})`);
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
    }
    return this.frames[n]!;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A signed request frame, with defaults for a valid envelope. */
export function requestFrame(kid: string, secret: Buffer, fields: Record<string, unknown>): Buffer {
  return encodeFrame(kid, signingKey(secret), { id: `t-${Math.random().toString(36).slice(2)}`, ts: Date.now(), op: 'ping', ...fields });
}

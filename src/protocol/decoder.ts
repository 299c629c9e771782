/**
 * Push-based incremental frame decoder (PROTOCOL.md §2).
 *
 * `write(chunk)` returns every frame the chunk completes, or the first framing
 * error. The length is checked against `maxFrameBytes` as soon as its 4 bytes
 * are in, the version and kid length as soon as theirs are: nothing of an
 * oversized or malformed frame's body is buffered. A frame that arrives whole
 * inside one chunk is cut out without copying; a partial frame is copied into a
 * buffer that grows by doubling as its bytes arrive, up to its final size, and
 * only that buffer is charged to the budget (PROTOCOL.md §2.3: bytes held): a
 * header that announces 4 MiB holds 64 KiB until more of the frame comes.
 */
import { LEN_BYTES, MAX_KID_BYTES, MIN_FRAME_LEN, MIN_DIAGNOSTIC_LEN, PROTOCOL_VERSION, TAG_BYTES, isKidByte } from './constants.ts';
import type { RawFrame } from './frame.ts';

export type FramingErrorCode = 'BAD_FRAME' | 'FRAME_TOO_LARGE' | 'UNSUPPORTED_VERSION' | 'OVERLOADED';

export interface FramingError {
  readonly code: FramingErrorCode;
  readonly message: string;
}

export interface DecodeResult {
  readonly frames: RawFrame[];
  readonly error?: FramingError;
  /** Bytes of the chunk taken: all of it, unless `maxFrames` frames were cut first. */
  readonly consumed: number;
}

/** Shared accounting of bytes held for incomplete frames (a global cap across connections). */
export interface ByteBudget {
  tryReserve(bytes: number): boolean;
  release(bytes: number): void;
}

export interface DecoderOptions {
  readonly maxFrameBytes: number;
  /**
   * Limit on the first frame's `len` (a server's pre-authentication limit):
   * nothing larger is buffered before a key has been checked.
   */
  readonly maxFirstFrameBytes?: number;
  /** Accept kid_len 0 (diagnostic frames); only clients do. */
  readonly acceptDiagnostics?: boolean;
  readonly budget?: ByteBudget;
}

const HEADER_BYTES = LEN_BYTES + 2;
const BUDGET_EXHAUSTED: FramingError = { code: 'OVERLOADED', message: 'server buffer budget for incomplete frames is exhausted' };
/** What a partial frame holds first (or its whole length, if smaller); its buffer doubles from there. */
export const INITIAL_PARTIAL_BYTES = 64 * 1024;

export class FrameDecoder {
  private readonly maxFrameBytes: number;
  private readonly maxFirstFrameBytes: number;
  private readonly acceptDiagnostics: boolean;
  private budget: ByteBudget | undefined;
  /** The budget the current partial frame's bytes were reserved from. */
  private partialBudget: ByteBudget | undefined;
  private framesCut = 0;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  /** The partial frame's bytes so far, in a buffer of `partial.length` (reserved from `partialBudget`). */
  private partial: Buffer | null = null;
  private partialFill = 0;
  /** The partial frame's whole length (its len field + 4). */
  private partialTotal = 0;
  private failure: FramingError | null = null;

  constructor(opts: DecoderOptions) {
    this.maxFrameBytes = opts.maxFrameBytes;
    this.maxFirstFrameBytes = Math.min(opts.maxFirstFrameBytes ?? opts.maxFrameBytes, opts.maxFrameBytes);
    this.acceptDiagnostics = opts.acceptDiagnostics ?? false;
    this.budget = opts.budget;
  }

  /** Bytes held for a frame that has started but not finished. */
  get bufferedBytes(): number {
    return this.partial ? this.partialFill : this.headerFill;
  }

  get hasPartialFrame(): boolean {
    return this.bufferedBytes > 0;
  }

  /**
   * Takes bytes of `chunk` until it is used up or `maxFrames` frames are cut
   * (a server that has not authenticated a connection yet cuts one frame, then
   * checks its key before it buffers anything of the next).
   */
  write(chunk: Buffer, maxFrames = Infinity): DecodeResult {
    const frames: RawFrame[] = [];
    if (this.failure) return { frames, error: this.failure, consumed: chunk.length };
    let off = 0;
    while (off < chunk.length) {
      if (frames.length >= maxFrames && !this.partial && this.headerFill === 0) return { frames, consumed: off };
      if (this.partial) {
        const n = Math.min(this.partialTotal - this.partialFill, chunk.length - off);
        const err = this.room(this.partialFill + n);
        if (err) return this.fail(frames, err);
        chunk.copy(this.partial, this.partialFill, off, off + n);
        this.partialFill += n;
        off += n;
        if (this.partialFill === this.partialTotal) {
          const whole = this.partial;
          this.releasePartial();
          const cut = this.cut(whole);
          if ('code' in cut) return this.fail(frames, cut);
          frames.push(cut);
        }
        continue;
      }
      if (this.headerFill === 0 && chunk.length - off >= HEADER_BYTES) {
        const err = this.checkHeader(chunk, off, HEADER_BYTES);
        if (err) return this.fail(frames, err);
        const total = LEN_BYTES + chunk.readUInt32BE(off);
        if (chunk.length - off >= total) {
          const cut = this.cut(chunk.subarray(off, off + total));
          if ('code' in cut) return this.fail(frames, cut);
          frames.push(cut);
          off += total;
          continue;
        }
        const n = chunk.length - off;
        const err2 = this.startPartial(total, n);
        if (err2) return this.fail(frames, err2);
        chunk.copy(this.partial!, 0, off);
        this.partialFill = n;
        off += n;
        continue;
      }
      const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - off);
      chunk.copy(this.header, this.headerFill, off, off + n);
      this.headerFill += n;
      off += n;
      const err = this.checkHeader(this.header, 0, this.headerFill);
      if (err) return this.fail(frames, err);
      if (this.headerFill === HEADER_BYTES) {
        const err2 = this.startPartial(LEN_BYTES + this.header.readUInt32BE(0), HEADER_BYTES);
        if (err2) return this.fail(frames, err2);
        this.header.copy(this.partial!, 0);
        this.partialFill = HEADER_BYTES;
        this.headerFill = 0;
      }
    }
    return { frames, consumed: chunk.length };
  }

  /**
   * Charges later frames to `budget` (a connection that authenticated moves
   * from the pre-authentication budget to the main one). A partial frame's
   * reservation moves too; false when the new budget cannot hold it.
   */
  switchBudget(budget: ByteBudget): boolean {
    this.budget = budget;
    if (!this.partial || this.partialBudget === budget) return true;
    this.partialBudget?.release(this.partial.length);
    this.partialBudget = undefined;
    if (!budget.tryReserve(this.partial.length)) {
      this.partial = null;
      this.partialFill = 0;
      this.partialTotal = 0;
      return false;
    }
    this.partialBudget = budget;
    return true;
  }

  /** Drops any partial frame and returns its bytes to the shared budget. */
  destroy(): void {
    this.releasePartial();
    this.headerFill = 0;
  }

  /** A partial frame of `total` bytes, with room for its first `first`. */
  private startPartial(total: number, first: number): FramingError | null {
    const size = Math.min(total, Math.max(INITIAL_PARTIAL_BYTES, first));
    if (this.budget && !this.budget.tryReserve(size)) return BUDGET_EXHAUSTED;
    this.partialBudget = this.budget;
    this.partial = Buffer.allocUnsafe(size);
    this.partialFill = 0;
    this.partialTotal = total;
    return null;
  }

  /** Room in the partial frame's buffer for its first `need` bytes: doubled (at most to its whole length) and charged. */
  private room(need: number): FramingError | null {
    const held = this.partial!;
    if (need <= held.length) return null;
    const size = Math.min(this.partialTotal, Math.max(need, held.length * 2));
    if (this.partialBudget && !this.partialBudget.tryReserve(size - held.length)) return BUDGET_EXHAUSTED;
    this.partial = Buffer.allocUnsafe(size);
    held.copy(this.partial, 0, 0, this.partialFill);
    return null;
  }

  private releasePartial(): void {
    if (this.partial) {
      this.partialBudget?.release(this.partial.length);
      this.partialBudget = undefined;
      this.partial = null;
      this.partialFill = 0;
      this.partialTotal = 0;
    }
  }

  private fail(frames: RawFrame[], err: FramingError): DecodeResult {
    this.failure = err;
    this.destroy();
    return { frames, error: err, consumed: 0 };
  }

  /** Checks the header fields among the first `avail` bytes at `off`. */
  private checkHeader(buf: Buffer, off: number, avail: number): FramingError | null {
    if (avail < LEN_BYTES) return null;
    const len = buf.readUInt32BE(off);
    if (len > this.maxFrameBytes) {
      return { code: 'FRAME_TOO_LARGE', message: `frame len ${len} exceeds max_frame_bytes ${this.maxFrameBytes}` };
    }
    if (this.framesCut === 0 && len > this.maxFirstFrameBytes) {
      return { code: 'FRAME_TOO_LARGE', message: `the first frame of a connection may be at most ${this.maxFirstFrameBytes} bytes (len ${len}); send hello first` };
    }
    const minLen = this.acceptDiagnostics ? MIN_DIAGNOSTIC_LEN : MIN_FRAME_LEN;
    if (len < minLen) return { code: 'BAD_FRAME', message: `frame len ${len} is below the minimum ${minLen}` };
    if (avail < LEN_BYTES + 1) return null;
    const ver = buf[off + 4]!;
    if (ver !== PROTOCOL_VERSION) return { code: 'UNSUPPORTED_VERSION', message: `protocol version ${ver} is not supported (this server speaks ${PROTOCOL_VERSION})` };
    if (avail < HEADER_BYTES) return null;
    const kidLen = buf[off + 5]!;
    if (kidLen > MAX_KID_BYTES || (kidLen === 0 && !this.acceptDiagnostics)) {
      return { code: 'BAD_FRAME', message: `kid_len ${kidLen} is outside 1..${MAX_KID_BYTES}` };
    }
    if (2 + kidLen + 1 + TAG_BYTES > len) return { code: 'BAD_FRAME', message: `kid_len ${kidLen} leaves no room for a body and tag in len ${len}` };
    return null;
  }

  private cut(frame: Buffer): RawFrame | FramingError {
    this.framesCut++;
    const kidLen = frame[5]!;
    for (let i = 6; i < 6 + kidLen; i++) {
      if (!isKidByte(frame[i]!)) return { code: 'BAD_FRAME', message: 'kid contains a byte outside [A-Za-z0-9._-]' };
    }
    const tagAt = frame.length - TAG_BYTES;
    return {
      version: frame[4]!,
      kid: frame.toString('latin1', 6, 6 + kidLen),
      signed: frame.subarray(0, tagAt),
      body: frame.subarray(6 + kidLen, tagAt),
      tag: frame.subarray(tagAt),
    };
  }
}

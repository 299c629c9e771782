import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameDecoder, INITIAL_PARTIAL_BYTES, type ByteBudget } from '../../src/protocol/decoder.ts';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { signingKey } from '../../src/protocol/signer.ts';
import { rejectVectors, validVectors } from '../helpers/vectors.ts';

const MAX = 4 * 1024 * 1024;
const decoderFor = (opts: { budget?: ByteBudget; max?: number } = {}) =>
  new FrameDecoder({ maxFrameBytes: opts.max ?? MAX, acceptDiagnostics: false, budget: opts.budget });

/** Feeds `chunks` and collects frames; stops at the first error. */
function feed(decoder: FrameDecoder, chunks: Buffer[]) {
  const frames = [];
  for (const chunk of chunks) {
    const r = decoder.write(chunk);
    frames.push(...r.frames);
    if (r.error) return { frames, error: r.error };
  }
  return { frames, error: undefined };
}

const bytewise = (buf: Buffer) => Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
const requestVectors = validVectors().filter((v) => v.kid !== '');

describe('FrameDecoder on the golden vectors', () => {
  for (const v of requestVectors) {
    const bytes = Buffer.from(v.frame_hex, 'hex');
    it(`${v.name}: whole, byte by byte and split at every boundary`, () => {
      const ways: Buffer[][] = [[bytes], bytewise(bytes)];
      for (let i = 1; i < bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
      for (const chunks of ways) {
        const d = decoderFor();
        const { frames, error } = feed(d, chunks);
        expect(error).toBeUndefined();
        expect(frames).toHaveLength(1);
        expect(frames[0]!.kid).toBe(v.kid);
        expect(Buffer.concat([frames[0]!.signed, frames[0]!.tag]).equals(bytes)).toBe(true);
        expect(d.bufferedBytes).toBe(0);
      }
    });
  }

  it('decodes a stream of every vector, split at every boundary, each frame exactly once and in order', () => {
    const stream = Buffer.concat(requestVectors.map((v) => Buffer.from(v.frame_hex, 'hex')));
    for (let i = 0; i <= stream.length; i++) {
      const { frames, error } = feed(decoderFor(), [stream.subarray(0, i), stream.subarray(i)]);
      expect(error).toBeUndefined();
      expect(frames.map((f) => f.body.toString('hex'))).toEqual(
        requestVectors.map((v) => Buffer.from(v.frame_hex, 'hex').subarray(6 + v.kid.length, -32).toString('hex')),
      );
    }
    expect(feed(decoderFor(), bytewise(stream)).frames).toHaveLength(requestVectors.length);
  });

  for (const v of rejectVectors().filter((r) => r.expect_error !== 'BAD_SIGNATURE')) {
    it(`${v.name}: rejected with ${v.expect_error} (${v.note}), whole and byte by byte`, () => {
      const bytes = Buffer.from(v.frame_hex, 'hex');
      for (const chunks of [[bytes], bytewise(bytes)]) {
        const d = decoderFor();
        const { frames, error } = feed(d, chunks);
        expect(frames).toHaveLength(0);
        expect(error?.code).toBe(v.expect_error);
        expect(d.bufferedBytes).toBe(0);
      }
    });
  }

  it('rejects an oversized len as soon as its 4 bytes arrive, before any body is buffered', () => {
    const reserved: number[] = [];
    const d = decoderFor({ max: 1024, budget: { tryReserve: (n) => (reserved.push(n), true), release: () => {} } });
    const r = d.write(Buffer.from([0, 0, 0x04, 0x01]));
    expect(r.error?.code).toBe('FRAME_TOO_LARGE');
    expect(reserved).toEqual([]);
  });

  it('stays failed after an error', () => {
    const d = decoderFor();
    expect(d.write(Buffer.from([0, 0, 0, 1])).error?.code).toBe('BAD_FRAME');
    const again = d.write(Buffer.from(requestVectors[0]!.frame_hex, 'hex'));
    expect(again.frames).toHaveLength(0);
    expect(again.error?.code).toBe('BAD_FRAME');
  });

  it('reserves partial frames from the shared budget and refuses when it is spent', () => {
    let used = 0;
    const budget: ByteBudget = { tryReserve: (n) => (used + n <= 200 ? ((used += n), true) : false), release: (n) => void (used -= n) };
    const bytes = Buffer.from(requestVectors[0]!.frame_hex, 'hex');
    const d1 = decoderFor({ budget });
    d1.write(bytes.subarray(0, 10));
    expect(used).toBe(bytes.length);
    const d2 = decoderFor({ budget });
    expect(d2.write(bytes.subarray(0, 10)).error?.code).toBe('OVERLOADED');
    expect(d1.write(bytes.subarray(10)).frames).toHaveLength(1);
    expect(used).toBe(0);
  });
});

describe('FrameDecoder holding a big partial frame', () => {
  const key = signingKey(Buffer.alloc(32, 3));
  const big = encodeFrame('k', key, { id: 'big', ts: 1, op: 'ping', body: { text: 'x'.repeat(1_000_000) } });

  it('charges the bytes it holds (a buffer doubling from 64 KiB), not the length a header announces', () => {
    let held = 0;
    const budget: ByteBudget = { tryReserve: (n) => ((held += n), true), release: (n) => void (held -= n) };
    const d = decoderFor({ budget });
    d.write(big.subarray(0, 6));
    expect(held).toBe(INITIAL_PARTIAL_BYTES);
    let frames = 0;
    for (let at = 6; at < big.length; at += 7_919) {
      frames += d.write(big.subarray(at, Math.min(big.length, at + 7_919))).frames.length;
      if (frames === 0) {
        expect(held).toBeGreaterThanOrEqual(d.bufferedBytes);
        expect(held).toBeLessThanOrEqual(Math.max(INITIAL_PARTIAL_BYTES, 2 * d.bufferedBytes));
      }
    }
    expect(frames).toBe(1);
    expect(held).toBe(0);
  });

  it('decodes it whatever the chunks, and refuses with OVERLOADED (releasing all) once a growth does not fit the budget', () => {
    for (const size of [1, 6, 65_535, 65_536, 65_537, 300_000]) {
      const d = decoderFor();
      const out = feed(d, Array.from({ length: Math.ceil(big.length / size) }, (_, i) => big.subarray(i * size, (i + 1) * size)));
      expect(out.error).toBeUndefined();
      expect(out.frames.map((f) => Buffer.concat([f.signed, f.tag]).equals(big))).toEqual([true]);
    }
    let used = 0;
    const budget: ByteBudget = { tryReserve: (n) => (used + n <= 150_000 ? ((used += n), true) : false), release: (n) => void (used -= n) };
    const d = decoderFor({ budget });
    // What arrives with the header is held at once; the next 50,000 bytes need the buffer doubled, past the budget.
    expect(d.write(big.subarray(0, 100_000)).error).toBeUndefined();
    expect(used).toBe(100_000);
    expect(d.write(big.subarray(100_000, 150_000)).error?.code).toBe('OVERLOADED');
    expect(used).toBe(0);
  });
});

describe('FrameDecoder properties (fast-check)', () => {
  const key = signingKey(Buffer.alloc(32, 7));
  const frameArb = fc
    .record({
      kid: fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
      id: fc.string({ minLength: 1, maxLength: 20 }),
      text: fc.string({ maxLength: 300 }),
    })
    .map(({ kid, id, text }) => encodeFrame(kid, key, { id, ts: 1767225600000, op: 'ping', body: { text } }));
  const splitArb = (len: number) => fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, len - 1) }), { maxLength: 40 }).map((cuts) => cuts.sort((a, b) => a - b));

  function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
    const out: Buffer[] = [];
    let prev = 0;
    for (const c of cuts) if (c > prev && c < buf.length) out.push(buf.subarray(prev, c)), (prev = c);
    out.push(buf.subarray(prev));
    return out;
  }

  it('decodes every valid frame exactly once, however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 12 }).chain((frames) => {
        const stream = Buffer.concat(frames);
        return fc.tuple(fc.constant(frames), fc.constant(stream), splitArb(stream.length));
      }), ([frames, stream, cuts]) => {
        const d = decoderFor();
        const { frames: out, error } = feed(d, splitAt(stream, cuts));
        expect(error).toBeUndefined();
        expect(out.map((f) => Buffer.concat([f.signed, f.tag]).toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
        expect(d.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws, never holds more than the limit, on corrupted and random streams', () => {
    const max = 2048;
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, flips, garbage, rawCuts) => {
          const stream = Buffer.concat([...frames, Buffer.from(garbage)]);
          for (const [at, value] of flips) stream[at % stream.length] = value;
          let held = 0;
          const budget: ByteBudget = { tryReserve: (n) => ((held += n), true), release: (n) => void (held -= n) };
          const d = decoderFor({ max, budget });
          const cuts = rawCuts.map((c) => 1 + (c % Math.max(1, stream.length - 1))).sort((a, b) => a - b);
          let decoded = 0;
          for (const chunk of splitAt(stream, [...new Set(cuts)])) {
            const r = d.write(chunk);
            decoded += r.frames.length;
            for (const f of r.frames) expect(f.signed.length + f.tag.length).toBeLessThanOrEqual(max + 4);
            expect(held).toBeLessThanOrEqual(max + 4);
            expect(d.bufferedBytes).toBeLessThanOrEqual(max + 4);
            if (r.error) break;
          }
          expect(decoded).toBeLessThanOrEqual(frames.length + garbage.length);
          d.destroy();
          expect(held).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('FrameDecoder before authentication', () => {
  const key = signingKey(Buffer.alloc(32, 1));
  const small = encodeFrame('k', key, { id: 'a', ts: 1, op: 'hello' });
  const big = encodeFrame('k', key, { id: 'b', ts: 1, op: 'store', body: { text: 'x'.repeat(100_000) } });

  it('refuses a first frame above maxFirstFrameBytes on its header, but not a later one', () => {
    expect(new FrameDecoder({ maxFrameBytes: MAX, maxFirstFrameBytes: 65_536 }).write(big.subarray(0, 6)).error?.code).toBe('FRAME_TOO_LARGE');
    const d = new FrameDecoder({ maxFrameBytes: MAX, maxFirstFrameBytes: 65_536 });
    expect(d.write(Buffer.concat([small, big])).frames).toHaveLength(2);
  });

  it('cuts at most maxFrames frames and says how much it took, buffering nothing of the rest', () => {
    const reserved: number[] = [];
    const budget: ByteBudget = { tryReserve: (n) => (reserved.push(n), true), release: () => {} };
    const d = new FrameDecoder({ maxFrameBytes: MAX, budget });
    const both = Buffer.concat([small, big.subarray(0, 1000)]);
    const first = d.write(both, 1);
    expect(first.frames).toHaveLength(1);
    expect(first.consumed).toBe(small.length);
    expect(reserved).toEqual([]);
    expect(d.write(both.subarray(first.consumed)).frames).toHaveLength(0);
    expect(reserved).toEqual([INITIAL_PARTIAL_BYTES]);
    expect(d.write(big.subarray(1000)).frames).toHaveLength(1);
  });
});

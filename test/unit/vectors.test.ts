import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { signingKey, verifyTag } from '../../src/protocol/signer.ts';
import { unpackMessage } from '../../src/protocol/codec.ts';
import { validVectors } from '../helpers/vectors.ts';

describe('golden vectors (protocol/vectors)', () => {
  for (const v of validVectors()) {
    it(`${v.name}: encodes to the golden bytes`, () => {
      const key = v.kid ? signingKey(Buffer.from(v.secret_hex, 'hex')) : null;
      expect(encodeFrame(v.kid, key, v.message).toString('hex')).toBe(v.frame_hex);
    });

    it(`${v.name}: decodes from the golden bytes and verifies`, () => {
      const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20, acceptDiagnostics: true });
      const { frames, error } = decoder.write(Buffer.from(v.frame_hex, 'hex'));
      expect(error).toBeUndefined();
      expect(frames).toHaveLength(1);
      const frame = frames[0]!;
      expect(frame.kid).toBe(v.kid);
      if (v.kid) expect(verifyTag(signingKey(Buffer.from(v.secret_hex, 'hex')), frame.signed, frame.tag)).toBe(true);
      else expect(frame.tag.equals(Buffer.alloc(32))).toBe(true);
      expect(unpackMessage(frame.body)).toEqual(v.message);
    });
  }

  it('writes ts as a MessagePack integer (int64), never a float', () => {
    const ping = validVectors().find((v) => v.name === 'ping-request')!;
    const bytes = Buffer.from(ping.frame_hex, 'hex');
    const tsAt = bytes.indexOf(Buffer.from('a27473', 'hex')) + 3;
    expect(bytes[tsAt]).toBe(0xd3);
  });
});

/**
 * Frame encoding (PROTOCOL.md §2): len | ver | kid_len | kid | body | tag.
 */
import { LEN_BYTES, MAX_KID_BYTES, PROTOCOL_VERSION, TAG_BYTES, KID_PATTERN } from './constants.ts';
import { packMessage } from './codec.ts';
import { computeTag, type SigningKey } from './signer.ts';

/** A frame cut from the stream, tag not yet checked, body not yet decoded. */
export interface RawFrame {
  readonly version: number;
  readonly kid: string;
  /** Every byte covered by the tag: len, ver, kid_len, kid, body. */
  readonly signed: Buffer;
  readonly body: Buffer;
  readonly tag: Buffer;
}

/** Builds a signed frame around an already packed body, in one allocation. */
export function frameBody(kid: string, key: SigningKey | null, body: Uint8Array): Buffer {
  const kidLen = Buffer.byteLength(kid, 'latin1');
  if (kidLen > MAX_KID_BYTES || (kidLen > 0 && !KID_PATTERN.test(kid))) throw new RangeError(`invalid kid ${JSON.stringify(kid)}`);
  const signedLen = LEN_BYTES + 2 + kidLen + body.length;
  const frame = Buffer.allocUnsafe(signedLen + TAG_BYTES);
  frame.writeUInt32BE(signedLen + TAG_BYTES - LEN_BYTES, 0);
  frame[4] = PROTOCOL_VERSION;
  frame[5] = kidLen;
  frame.write(kid, 6, 'latin1');
  frame.set(body, 6 + kidLen);
  if (key) {
    computeTag(key, frame.subarray(0, signedLen)).copy(frame, signedLen);
  } else {
    // Diagnostic frames (kid_len 0) carry a zero tag: there is no key to sign with (§6.1).
    frame.fill(0, signedLen);
  }
  return frame;
}

/** Packs `message` and frames it; `key` null makes an unsigned diagnostic frame. */
export function encodeFrame(kid: string, key: SigningKey | null, message: unknown): Buffer {
  return frameBody(kid, key, packMessage(message));
}

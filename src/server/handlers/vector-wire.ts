/**
 * Vectors on the wire (PROTOCOL.md §7.11): base64 of little-endian float32s,
 * since the value model has no bin type (§3.1).
 */
import { endianness } from 'node:os';

// Float32Array uses the platform's byte order; the wire's is little-endian.
const LITTLE_ENDIAN = endianness() === 'LE';

export function vectorToBase64(v: Float32Array): string {
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (LITTLE_ENDIAN) return bytes.toString('base64');
  const copy = Buffer.from(bytes);
  copy.swap32();
  return copy.toString('base64');
}

/** The vector, or undefined when the text is not a whole number of float32s. */
export function vectorFromBase64(text: string): Float32Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0 || bytes.length % 4 !== 0) return undefined;
  // A fresh, aligned buffer: Buffer.from may return a slice of a shared pool at any offset.
  const out = new Float32Array(bytes.length / 4);
  const view = Buffer.from(out.buffer);
  bytes.copy(view);
  if (!LITTLE_ENDIAN) view.swap32();
  return out;
}

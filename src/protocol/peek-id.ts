/**
 * Recovers the `id` of a request whose body was refused (PROTOCOL.md §4.2):
 * the answer carries the request's id whenever it can be read, so a client
 * can match the BAD_REQUEST to its request instead of waiting for a timeout.
 *
 * Scans the top-level map only, and only over scalars and strings: it stops
 * (returning null) at the first nested value, extension or malformed byte,
 * so it needs no recursion and reads nothing twice. Clients send `id` first
 * (the reference clients do), so it is found before any value that could be
 * the reason for the refusal.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_ID_BYTES } from './constants.ts';

/** Bytes a scalar starting with `b` takes, header included; -1 for strings, containers and everything else. */
function scalarSize(b: number): number {
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return 1;
  switch (b) {
    case 0xcc:
    case 0xd0:
      return 2;
    case 0xcd:
    case 0xd1:
      return 3;
    case 0xca:
    case 0xce:
    case 0xd2:
      return 5;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return 9;
    default:
      return -1;
  }
}

/** [start, end) of the string at `pos`, or null when `pos` holds no whole string. */
function stringAt(buf: Uint8Array, pos: number): [number, number] | null {
  const b = buf[pos];
  if (b === undefined) return null;
  let start: number;
  let len: number;
  if ((b & 0xe0) === 0xa0) [start, len] = [pos + 1, b & 0x1f];
  else if (b === 0xd9 && pos + 1 < buf.length) [start, len] = [pos + 2, buf[pos + 1]!];
  else if (b === 0xda && pos + 2 < buf.length) [start, len] = [pos + 3, (buf[pos + 1]! << 8) | buf[pos + 2]!];
  else return null;
  return start + len <= buf.length ? [start, start + len] : null;
}

export function peekRequestId(body: Uint8Array): string | null {
  const head = body[0];
  if (head === undefined) return null;
  let entries: number;
  let pos: number;
  if ((head & 0xf0) === 0x80) [entries, pos] = [head & 0x0f, 1];
  else if (head === 0xde && body.length >= 3) [entries, pos] = [(body[1]! << 8) | body[2]!, 3];
  else return null;
  for (let i = 0; i < entries; i++) {
    const key = stringAt(body, pos);
    if (!key) return null;
    pos = key[1];
    const isId = key[1] - key[0] === 2 && body[key[0]] === 0x69 && body[key[0] + 1] === 0x64;
    const value = stringAt(body, pos);
    if (value) {
      if (isId) {
        const bytes = body.subarray(value[0], value[1]);
        return bytes.length > 0 && bytes.length <= MAX_ID_BYTES && isUtf8(bytes) ? Buffer.from(bytes).toString('utf8') : null;
      }
      pos = value[1];
      continue;
    }
    const size = scalarSize(body[pos] ?? 0xc1);
    if (isId || size < 0) return null;
    pos += size;
  }
  return null;
}

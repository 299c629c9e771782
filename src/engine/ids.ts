/**
 * Context ids: time-ordered (ms timestamp, then a per-ms sequence), then
 * random. Ids made later sort later, so `list` can page by id with a stable
 * cursor while writes go on.
 */
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let seq = 0;

export function newContextId(now = Date.now()): string {
  if (now <= lastMs) {
    seq++;
    now = lastMs;
  } else {
    lastMs = now;
    seq = 0;
  }
  return `c${now.toString(36).padStart(9, '0')}${seq.toString(36).padStart(4, '0')}${randomBytes(5).toString('hex')}`;
}

/**
 * Context ids: time-ordered (ms timestamp, then a per-ms sequence), then
 * random. Ids made later sort later, so `list` can page by id with a stable
 * cursor while writes go on.
 */
import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let seq = 0;

/**
 * Random bytes drawn from a pool refilled 4 KiB at a time: randomBytes(5) per id was ~10 µs, 3 % of a store's CPU
 * (a call into the CSPRNG and a new buffer each time).
 */
const POOL_BYTES = 4096;
const RANDOM_BYTES = 5;
const pool = Buffer.alloc(POOL_BYTES);
let poolAt = POOL_BYTES;

function randomHex(): string {
  if (poolAt + RANDOM_BYTES > POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const hex = pool.toString('hex', poolAt, poolAt + RANDOM_BYTES);
  poolAt += RANDOM_BYTES;
  return hex;
}

export function newContextId(now = Date.now()): string {
  if (now <= lastMs) {
    seq++;
    now = lastMs;
  } else {
    lastMs = now;
    seq = 0;
  }
  return `c${now.toString(36).padStart(9, '0')}${seq.toString(36).padStart(4, '0')}${randomHex()}`;
}

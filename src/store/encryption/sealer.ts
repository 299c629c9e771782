/**
 * AES-256-GCM sealing of stored values (node:crypto). A sealed value is
 *
 *   0x01 | nonce (12 bytes, random) | ciphertext | tag (16 bytes)
 *
 * and the key id travels beside it (a column of the row), never inside. The
 * caller's associated data binds a value to where it is stored (tenant and
 * id), so a sealed value copied onto another row does not open.
 *
 * Random 96-bit nonces are safe for about 2^32 seals per key (NIST SP 800-38D);
 * rotating keys (`ctxd data-keys create` and `ctxd rekey`) well before that is
 * in PRODUCTION.md.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';
import type { DataKeys } from './data-keys.ts';

const FORMAT = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Nonces are cut from a pool filled in one call: one getrandom per 1,024 seals instead of one each. */
const NONCE_POOL = NONCE_BYTES * 1024;

/** A value that does not open with its key: tampered with, damaged, or sealed with another key of the same id. */
export class UnsealError extends Error {
  override readonly name = 'UnsealError';
}

export class Sealer {
  readonly keys: DataKeys;
  /** Key objects made once: a raw key passed to each cipher call costs about 4× the call (bench/encryption.md). */
  private readonly keyObjects: ReadonlyMap<string, KeyObject>;
  private pool = Buffer.alloc(0);
  private poolAt = 0;

  constructor(keys: DataKeys) {
    this.keys = keys;
    this.keyObjects = new Map([...keys.keys].map(([id, key]) => [id, createSecretKey(key)]));
  }

  get activeKid(): string {
    return this.keys.active;
  }

  has(kid: string): boolean {
    return this.keys.keys.has(kid);
  }

  private nonce(): Buffer {
    if (this.poolAt === this.pool.length) {
      this.pool = randomFillSync(Buffer.allocUnsafe(NONCE_POOL));
      this.poolAt = 0;
    }
    const n = this.pool.subarray(this.poolAt, this.poolAt + NONCE_BYTES);
    this.poolAt += NONCE_BYTES;
    return n;
  }

  /** Seals `plain` with the active key. */
  seal(plain: Uint8Array, aad: Uint8Array): Buffer {
    return this.sealWith(this.keys.active, plain, aad);
  }

  /** Seals `plain` with key `kid` (a key check value; data is always sealed with the active key). */
  sealWith(kid: string, plain: Uint8Array, aad: Uint8Array): Buffer {
    const key = this.keyObjects.get(kid);
    if (!key) throw new UnsealError(`no data key ${kid}`);
    const nonce = this.nonce();
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    const body = cipher.update(plain);
    const rest = cipher.final();
    return Buffer.concat([Buffer.of(FORMAT), nonce, body, rest, cipher.getAuthTag()]);
  }

  /** Opens a value sealed with key `kid`; throws UnsealError when it does not authenticate. */
  open(kid: string, sealed: Uint8Array, aad: Uint8Array): Buffer {
    const key = this.keyObjects.get(kid);
    if (!key) throw new UnsealError(`no data key ${kid}`);
    if (sealed.byteLength < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT) throw new UnsealError('not a sealed value of a known format');
    const s = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, s.subarray(1, 1 + NONCE_BYTES));
      decipher.setAAD(aad);
      decipher.setAuthTag(s.subarray(s.length - TAG_BYTES));
      const body = decipher.update(s.subarray(1 + NONCE_BYTES, s.length - TAG_BYTES));
      const rest = decipher.final();
      return rest.length === 0 ? body : Buffer.concat([body, rest]);
    } catch {
      throw new UnsealError(`does not open with data key ${kid} (wrong key, or the value was altered)`);
    }
  }
}

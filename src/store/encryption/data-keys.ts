/**
 * Data keys for encryption at rest (PRODUCTION.md "Encryption at rest"): a
 * JSON document naming the key new writes are sealed with and every key rows
 * may still be sealed with.
 *
 *   { "active": "dk-2026-11", "keys": [ { "id": "dk-2026-11", "key": "<64 hex digits>" }, ... ] }
 *
 * It comes from a file (encryption.key_file) or from an environment variable
 * (encryption.key_env, e.g. a Kubernetes Secret), read by the composition root.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const DATA_KEY_BYTES = 32;
const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface DataKeys {
  /** The key id new writes (and `rekey`) seal with. */
  readonly active: string;
  /** Every key by id, the active one included. */
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

/** A key document that cannot be used, or keys that do not open the stored data: the daemon refuses to start (exit 2). */
export class DataKeyError extends Error {
  override readonly name = 'DataKeyError';
}

/** Parses a key document; `where` names its source in errors (never the key bytes). */
export function parseDataKeys(text: string, where: string): DataKeys {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    // Only where: JSON.parse's own message quotes the text around the error, which would print key digits.
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new DataKeyError(`${where}: not valid JSON${at === undefined ? '' : ` (at character ${at})`}`);
  }
  const { active, keys } = (doc ?? {}) as { active?: unknown; keys?: unknown };
  if (!Array.isArray(keys) || keys.length === 0) throw new DataKeyError(`${where}: expected {"active": "<id>", "keys": [{"id": "<id>", "key": "<64 hex digits>"}]}`);
  const byId = new Map<string, Uint8Array>();
  keys.forEach((k: unknown, i) => {
    const { id, key } = (k ?? {}) as { id?: unknown; key?: unknown };
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw new DataKeyError(`${where} keys[${i}]: id must be 1..64 characters of [A-Za-z0-9._-]`);
    if (typeof key !== 'string' || !/^[0-9a-fA-F]*$/.test(key) || key.length !== DATA_KEY_BYTES * 2) {
      throw new DataKeyError(`${where} keys[${i}] (${id}): key must be ${DATA_KEY_BYTES} bytes as ${DATA_KEY_BYTES * 2} hex digits`);
    }
    if (byId.has(id)) throw new DataKeyError(`${where}: key id ${id} appears twice`);
    byId.set(id, new Uint8Array(Buffer.from(key, 'hex')));
  });
  if (typeof active !== 'string' || !byId.has(active)) throw new DataKeyError(`${where}: "active" must name one of the keys (${[...byId.keys()].join(', ')})`);
  return { active, keys: byId };
}

export function readDataKeysFile(path: string): DataKeys {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataKeyError(`encryption key file ${path}: ${(e as Error).message}`);
  }
  return parseDataKeys(text, `encryption key file ${path}`);
}

/** A new key, for `ctxd data-keys create`. */
export function generateDataKey(): Uint8Array {
  return new Uint8Array(randomBytes(DATA_KEY_BYTES));
}

/**
 * Writes a key document atomically and durably, owner-only from its first
 * byte: a key lost in a crash after rows were sealed with it loses those rows.
 */
export function writeDataKeysFile(path: string, keys: DataKeys): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const doc = { active: keys.active, keys: [...keys.keys].map(([id, key]) => ({ id, key: Buffer.from(key).toString('hex') })) };
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(doc, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Where the keys come from (config `encryption`); `env` is read only for the variable key_env names. */
export function loadDataKeys(setting: { readonly key_file: string; readonly key_env: string }, env: Readonly<Record<string, string | undefined>>): DataKeys | null {
  if (setting.key_file) return readDataKeysFile(setting.key_file);
  if (!setting.key_env) return null;
  const doc = env[setting.key_env];
  if (!doc) throw new DataKeyError(`encryption.key_env names ${setting.key_env}, which is not set`);
  return parseDataKeys(doc, `environment variable ${setting.key_env}`);
}

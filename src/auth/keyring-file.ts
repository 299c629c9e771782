/**
 * The keyring file format, shared by the daemon (which loads and creates it)
 * and by the client and CLI (which take a key from it when given none).
 *
 *   { "keys": [ { "kid": "...", "secret": "<hex>", "tenant": "default", "role": "admin" } ] }
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isTenantName } from '../domain/tenant.ts';

export type Role = 'agent' | 'admin';

export interface KeyRecord {
  readonly kid: string;
  readonly secret: Buffer;
  readonly tenant: string;
  readonly role: Role;
}

export const MIN_SECRET_BYTES = 32;
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const KEYRING_FILE_NAME = 'keys.json';

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** The kid of the sample key in k8s/ctxd.yaml, which the daemon refuses. */
export const PLACEHOLDER_KID = 'REPLACE-ME';
/** Its secret, refused under any kid: renaming the sample key must not make it usable. */
export const PLACEHOLDER_SECRET = '00000000000000000000000000000000000000000000000000000000000000ff';

export function defaultKeyringPath(dataDir: string): string {
  return join(dataDir, KEYRING_FILE_NAME);
}

/** Validates one key's fields; `where` names it in errors. */
export function parseKeyRecord(raw: unknown, where: string): KeyRecord {
  if (!raw || typeof raw !== 'object') throw new KeyringError(`${where}: a key must be an object`);
  const r = raw as Record<string, unknown>;
  if (typeof r.kid !== 'string' || !NAME_PATTERN.test(r.kid)) throw new KeyringError(`${where}: kid must be 1..64 characters of [A-Za-z0-9._-]`);
  // The sample Secret in k8s/ctxd.yaml ships this key: published, so it must never serve.
  if (r.kid === PLACEHOLDER_KID || r.secret === PLACEHOLDER_SECRET) throw new KeyringError(`${where}: the placeholder key ${PLACEHOLDER_KID} from k8s/ctxd.yaml is public: replace it with your own (ctxd keys create)`);
  if (typeof r.secret !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(r.secret)) throw new KeyringError(`${where}: secret must be hex`);
  const secret = Buffer.from(r.secret, 'hex');
  if (secret.length < MIN_SECRET_BYTES) throw new KeyringError(`${where}: secret must be at least ${MIN_SECRET_BYTES} bytes (${MIN_SECRET_BYTES * 2} hex digits)`);
  const tenant = r.tenant ?? 'default';
  if (!isTenantName(tenant)) throw new KeyringError(`${where}: tenant must be 1..64 characters of [A-Za-z0-9._-], starting with a letter or digit`);
  const role = r.role ?? 'agent';
  if (role !== 'agent' && role !== 'admin') throw new KeyringError(`${where}: role must be "agent" or "admin"`);
  return { kid: r.kid, secret, tenant, role };
}

/** Reads a keyring file; undefined when it does not exist. */
export function readKeyringFile(path: string): KeyRecord[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyringError(`keyring ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KeyringError(`keyring ${path}: not valid JSON: ${(e as Error).message}`);
  }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) throw new KeyringError(`keyring ${path}: expected {"keys": [...]}`);
  return keys.map((k, i) => parseKeyRecord(k, `keyring ${path} keys[${i}]`));
}

/** Writes a keyring file atomically with mode 0600 (it holds secrets). */
export function writeKeyringFile(path: string, keys: readonly KeyRecord[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const doc = { keys: keys.map((k) => ({ kid: k.kid, secret: k.secret.toString('hex'), tenant: k.tenant, role: k.role })) };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function generateKey(tenant = 'default', role: Role = 'admin'): KeyRecord {
  return { kid: `k-${randomBytes(6).toString('hex')}`, secret: randomBytes(MIN_SECRET_BYTES), tenant, role };
}

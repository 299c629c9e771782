/**
 * The daemon's live keys (PROTOCOL.md §5). Keys come from the keyring file and
 * from CTXD_KEY_ID/CTXD_KEY_SECRET (one admin key of tenant "default"); with
 * none at all, one is generated into the data dir so the daemon never runs
 * unauthenticated. Secrets become KeyObjects once, at load.
 */
import { signingKey, type SigningKey } from '../protocol/signer.ts';
import { KeyringError, generateKey, parseKeyRecord, readKeyringFile, writeKeyringFile, type KeyRecord, type Role } from './keyring-file.ts';

export interface Principal {
  readonly kid: string;
  readonly tenant: string;
  readonly role: Role;
}

export interface LiveKey extends Principal {
  readonly signingKey: SigningKey;
}

export interface KeySources {
  readonly keyringPath: string;
  /** CTXD_KEY_ID / CTXD_KEY_SECRET, read once by the composition root. */
  readonly envKey?: { readonly id: string; readonly secretHex: string } | undefined;
}

export interface KeyringLoad {
  readonly keyring: Keyring;
  /** Set when no key existed and one was written here. */
  readonly generatedAt?: string;
}

export class Keyring {
  private keys: Map<string, LiveKey>;

  constructor(records: readonly KeyRecord[]) {
    this.keys = Keyring.index(records);
  }

  private static index(records: readonly KeyRecord[]): Map<string, LiveKey> {
    const map = new Map<string, LiveKey>();
    for (const r of records) {
      map.set(r.kid, { kid: r.kid, tenant: r.tenant, role: r.role, signingKey: signingKey(r.secret) });
    }
    return map;
  }

  get(kid: string): LiveKey | undefined {
    return this.keys.get(kid);
  }

  get size(): number {
    return this.keys.size;
  }

  /** Every live key id (the audit trail compares them across a reload). */
  kids(): string[] {
    return [...this.keys.keys()];
  }

  /** The ids of the tenant's live keys (a purge forgets their request ids). */
  kidsOf(tenant: string): string[] {
    return [...this.keys.values()].filter((k) => k.tenant === tenant).map((k) => k.kid);
  }

  /** Swaps in a new key set (rotation); connections keep working with keys still present. */
  replace(records: readonly KeyRecord[]): void {
    this.keys = Keyring.index(records);
  }
}

/** Gathers key records from the file and the environment, without side effects. */
export function collectKeyRecords(sources: KeySources): KeyRecord[] {
  const fromFile = readKeyringFile(sources.keyringPath) ?? [];
  const records = [...fromFile];
  if (sources.envKey) {
    const env = parseKeyRecord({ kid: sources.envKey.id, secret: sources.envKey.secretHex, tenant: 'default', role: 'admin' }, 'CTXD_KEY_ID/CTXD_KEY_SECRET');
    const i = records.findIndex((r) => r.kid === env.kid);
    if (i >= 0) records[i] = env;
    else records.push(env);
  }
  return records;
}

export function loadKeyring(sources: KeySources): KeyringLoad {
  const records = collectKeyRecords(sources);
  if (records.length > 0) return { keyring: new Keyring(records) };
  const key = generateKey();
  try {
    writeKeyringFile(sources.keyringPath, [key]);
  } catch (e) {
    throw new KeyringError(`no key is configured and none can be written to ${sources.keyringPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { keyring: new Keyring([key]), generatedAt: sources.keyringPath };
}

export function roleAllows(role: Role, needed: Role): boolean {
  return needed === 'agent' || role === 'admin';
}

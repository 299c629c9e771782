/**
 * Daemons with several tenants: a keyring file written into the data dir
 * BEFORE the daemon starts (src/auth/keyring-file.ts), one admin key of tenant
 * "default" (which startDaemon picks up as d.kid/d.secret) and one agent key
 * per named tenant.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeKeyringFile, type KeyRecord, type Role } from '../../src/auth/keyring-file.ts';
import { startDaemon, tempDataDir, type RunningDaemon, type StartOptions } from './daemon.ts';

export interface TenantKey {
  readonly kid: string;
  readonly secret: Buffer;
  readonly tenant: string;
  readonly role: Role;
}

export function makeKey(tenant: string, role: Role = 'agent', kid = `${role}-${tenant}-${randomBytes(3).toString('hex')}`): TenantKey {
  return { kid, secret: randomBytes(32), tenant, role };
}

/** Writes `<dataDir>/keys.json` (mode 0600) with exactly these keys. */
export function writeKeys(dataDir: string, keys: readonly TenantKey[]): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeKeyringFile(join(dataDir, 'keys.json'), keys as readonly KeyRecord[]);
}

export interface TenantDaemon {
  readonly d: RunningDaemon;
  readonly admin: TenantKey;
  /** Agent keys by tenant name. */
  readonly keys: Readonly<Record<string, TenantKey>>;
  key(tenant: string): TenantKey;
}

export interface TenantStartOptions extends Omit<StartOptions, 'dataDir'> {
  /** Tenants to give an agent key each (default A, B, C). */
  readonly tenants?: readonly string[];
  /** Reuse a data dir that already holds a keyring written by `writeKeys` (restarts): pass its keys too. */
  readonly reuse?: { readonly dataDir: string; readonly admin: TenantKey; readonly keys: Readonly<Record<string, TenantKey>> };
}

export async function startTenantDaemon(opts: TenantStartOptions = {}): Promise<TenantDaemon> {
  let dataDir: string;
  let admin: TenantKey;
  let keys: Record<string, TenantKey>;
  if (opts.reuse) {
    ({ dataDir, admin } = opts.reuse);
    keys = { ...opts.reuse.keys };
  } else {
    dataDir = tempDataDir();
    admin = makeKey('default', 'admin', 'admin-key');
    keys = {};
    for (const t of opts.tenants ?? ['A', 'B', 'C']) keys[t] = makeKey(t, 'agent', `agent-${t}`);
    writeKeys(dataDir, [admin, ...Object.values(keys)]);
  }
  const d = await startDaemon({ ...opts, dataDir });
  return {
    d,
    admin,
    keys,
    key(tenant: string): TenantKey {
      const k = keys[tenant];
      if (!k) throw new Error(`no key for tenant ${tenant}`);
      return k;
    },
  };
}

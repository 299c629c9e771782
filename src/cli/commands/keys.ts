/**
 * `ctxd keys create|list|revoke`: manage the keyring file of a data dir. A
 * running daemon watches the file, so a key created here is live within a
 * second, and a revoked one is refused from then on.
 */
import { parseArgs } from 'node:util';
import { defaultKeyringPath, generateKey, readKeyringFile, writeKeyringFile, type KeyRecord, type Role } from '../../auth/keyring-file.ts';
import { isTenantName } from '../../domain/tenant.ts';
import { EXIT, UsageError, print, reportError, showHelp, type Env } from '../common.ts';

export const help = `Usage: ctxd keys create [--tenant T] [--role agent|admin] [--kid KID]
       ctxd keys list
       ctxd keys revoke KID

Manages the keyring file (<data dir>/keys.json, mode 0600). 'create' prints the
new secret once: store it where your agent reads it (CTXD_KEY_ID/CTXD_KEY_SECRET).

  --data-dir DIR       data dir of the keyring (CTXD_DATA_DIR, default ./data)
  --keyring FILE       the keyring file itself, if not in the data dir
  --json               machine-readable output
  -h, --help           this help
`;

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

export async function run(argv: string[], env: Env): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        tenant: { type: 'string' }, role: { type: 'string' }, kid: { type: 'string' },
        'data-dir': { type: 'string' }, keyring: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) return showHelp(help);
    const path = values.keyring ?? defaultKeyringPath(values['data-dir'] ?? env.CTXD_DATA_DIR ?? './data');
    const keys: KeyRecord[] = readKeyringFile(path) ?? [];
    const [action, ...rest] = positionals;
    switch (action) {
      case 'create': {
        const role = (values.role ?? 'agent') as Role;
        if (role !== 'agent' && role !== 'admin') throw new UsageError('--role must be agent or admin');
        const tenant = values.tenant ?? 'default';
        if (!isTenantName(tenant)) throw new UsageError('--tenant must be 1..64 characters of [A-Za-z0-9._-], starting with a letter or digit');
        const key = { ...generateKey(tenant, role), ...(values.kid && { kid: values.kid }) };
        if (!NAME.test(key.kid)) throw new UsageError('--kid must be 1..64 characters of [A-Za-z0-9._-]');
        if (keys.some((k) => k.kid === key.kid)) throw new UsageError(`a key ${key.kid} already exists`);
        writeKeyringFile(path, [...keys, key]);
        const shown = { kid: key.kid, secret: key.secret.toString('hex'), tenant, role, keyring: path };
        print(values.json, shown, () => `created key ${key.kid} (tenant ${tenant}, role ${role}) in ${path}\nCTXD_KEY_ID=${key.kid}\nCTXD_KEY_SECRET=${shown.secret}\nThe secret is not shown again.`);
        return EXIT.ok;
      }
      case 'list': {
        const listed = keys.map((k) => ({ kid: k.kid, tenant: k.tenant, role: k.role }));
        print(values.json, listed, () => (listed.length ? listed.map((k) => `${k.kid}  tenant=${k.tenant}  role=${k.role}`).join('\n') : `no keys in ${path}`));
        return EXIT.ok;
      }
      case 'revoke': {
        const kid = rest[0];
        if (!kid) throw new UsageError('give the kid to revoke');
        if (!keys.some((k) => k.kid === kid)) throw new UsageError(`no key ${kid} in ${path}`);
        if (keys.length === 1) throw new UsageError('refusing to revoke the last key: create its replacement first');
        writeKeyringFile(path, keys.filter((k) => k.kid !== kid));
        print(values.json, { revoked: kid }, () => `revoked ${kid}`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`expected create, list or revoke${action ? `, got ${JSON.stringify(action)}` : ''}`);
    }
  } catch (e) {
    return reportError('keys', e);
  }
}

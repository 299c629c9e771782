/** Finds a key for a client when none is given: the daemon's keyring in the data dir. */
import { defaultKeyringPath, readKeyringFile, type KeyRecord } from '../auth/keyring-file.ts';

/** The first admin key (else the first key) of `<dataDir>/keys.json`, or undefined. */
export function keyFromDataDir(dataDir: string, keyringPath = defaultKeyringPath(dataDir)): KeyRecord | undefined {
  const keys = readKeyringFile(keyringPath);
  return keys?.find((k) => k.role === 'admin') ?? keys?.[0];
}

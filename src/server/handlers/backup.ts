/**
 * `backup` (PROTOCOL.md §7.13): the daemon writes a consistent online copy of
 * its data on its own host, into the configured backup directory, and
 * answers with its path and SHA-256. Admin only; serving goes on meanwhile.
 */
import { opHandler } from '../dispatcher.ts';

export interface BackupTarget {
  backup(): Promise<{ path: string; bytes: number; sha256: string }>;
}

export function backupHandler(target: BackupTarget) {
  return opHandler('backup', {
    audited: true,
    role: 'admin',
    async handle() {
      const started = performance.now();
      const copy = await target.backup();
      return { ...copy, took_ms: Math.round(performance.now() - started) };
    },
  });
}

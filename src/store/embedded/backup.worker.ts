/**
 * A one-off thread that writes an online copy of the database (PROTOCOL.md
 * §7.13): `VACUUM INTO` on a read-only connection of its own reads one
 * consistent snapshot (WAL readers never block the writer), so the daemon
 * keeps serving; the copy is synced, renamed into place and checksummed here,
 * off the event loop.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { fsyncPath } from './data-files.ts';

const { source, target } = workerData as { source: string; target: string };
const partial = `${target}.partial`;

function sha256Of(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

try {
  // Created empty and owner-only before SQLite writes into it: the copy is never readable by others, even half written.
  closeSync(openSync(partial, 'wx', 0o600));
  const db = new DatabaseSync(source, { readOnly: true });
  try {
    db.prepare('VACUUM INTO ?').run(partial);
  } finally {
    db.close();
  }
  fsyncPath(partial);
  renameSync(partial, target);
  fsyncPath(dirname(target));
  parentPort!.postMessage({ ok: true, bytes: statSync(target).size, sha256: sha256Of(target) });
} catch (e) {
  // A failed copy leaves nothing behind to fill the disk the database lives on.
  rmSync(partial, { force: true });
  parentPort!.postMessage({ ok: false, message: (e as Error).message });
}

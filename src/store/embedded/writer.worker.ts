/**
 * The embedded store's writer thread: the only connection that writes. Each
 * group arrives as one message and commits as one transaction (commit-group.ts);
 * the fsync of a strict commit happens here, so it never stops the event loop
 * that serves requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { commitGroup, describeFailure } from './commit-group.ts';
import { SqliteFile, type Durability } from './sqlite-file.ts';
import { wantsCompaction, type FromWriter, type ToWriter } from './write-ops.ts';
import type { VectorSpace } from '../../domain/vector-space.ts';
import type { DataKeys } from '../encryption/data-keys.ts';
import { Sealer } from '../encryption/sealer.ts';
import { noteKeys } from './sealing.ts';

const { path, durability, space, maxDbBytes, keys } = workerData as { path: string; durability: Durability; space: VectorSpace; maxDbBytes: number; keys: DataKeys | null };
// The main thread has checked these keys against the file before starting this thread.
const db = new SqliteFile(path, durability, space, { maxDbBytes, sealer: keys ? new Sealer(keys) : null });
const port = parentPort!;
const send = (m: FromWriter) => port.postMessage(m);

port.on('message', (m: ToWriter) => {
  if (m.type === 'close') {
    db.close();
    send({ type: 'closed' });
    port.close();
    return;
  }
  if (m.type === 'keys') {
    const sealer = new Sealer(m.keys);
    db.sealing.setSealer(sealer);
    // Check values for new keys, before the first row is sealed with them.
    noteKeys(db.db, sealer);
    return;
  }
  try {
    const { failed, changes } = commitGroup(db, m.writes);
    // The end of a rekey pass: after the commit, outside its transaction. Failures are recorded in the file, not thrown.
    if (wantsCompaction(m.writes)) db.sealing.finishPass();
    send({ type: 'committed', seq: m.seq, failed, changes });
  } catch (e) {
    try {
      if (db.db.isTransaction) db.db.exec('ROLLBACK');
    } catch {
      // The connection is unusable; the group is reported aborted below.
    }
    send({ type: 'aborted', seq: m.seq, error: describeFailure(e) });
  }
});
// A group the main thread could send but this thread cannot read (deserialising is recursive too).
port.on('messageerror', (e) => send({ type: 'unreadable', error: e.message }));
send({ type: 'ready' });

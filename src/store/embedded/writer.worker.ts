/**
 * The embedded store's writer thread: the only connection that writes. Each
 * group arrives as one message and commits as one transaction, each write in
 * its own savepoint; the fsync of a strict commit happens here, so it never
 * stops the event loop that serves requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteFile, type Durability } from './sqlite-file.ts';
import { applyWrite, type FromWriter, type ToWriter } from './write-ops.ts';

const { path, durability, dims } = workerData as { path: string; durability: Durability; dims: number };
const db = new SqliteFile(path, durability, dims);
const port = parentPort!;
const send = (m: FromWriter) => port.postMessage(m);

port.on('message', (m: ToWriter) => {
  if (m.type === 'close') {
    db.close();
    send({ type: 'closed' });
    port.close();
    return;
  }
  const failed: Array<string | null> = [];
  try {
    db.db.exec('BEGIN IMMEDIATE');
    for (const ops of m.writes) {
      db.db.exec('SAVEPOINT w');
      try {
        applyWrite(db, ops);
        db.db.exec('RELEASE w');
        failed.push(null);
      } catch (e) {
        db.db.exec('ROLLBACK TO w');
        db.db.exec('RELEASE w');
        failed.push((e as Error).message);
      }
    }
    db.db.exec('COMMIT');
    send({ type: 'committed', seq: m.seq, failed });
  } catch (e) {
    try {
      if (db.db.isTransaction) db.db.exec('ROLLBACK');
    } catch {
      // The connection is unusable; the group is reported aborted below.
    }
    send({ type: 'aborted', seq: m.seq, error: (e as Error).message });
  }
});
send({ type: 'ready' });

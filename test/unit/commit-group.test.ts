/**
 * The writer thread's transaction, run in-process on a real SQLite file: a
 * write failing alone leaves the others committed; a write whose failure
 * rolls back the whole transaction (SQLITE_FULL) leaves the writes before it
 * committed and fails every write after it, so the committer stays FIFO.
 */
import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/domain/errors.ts';
import { commitGroup } from '../../src/store/embedded/commit-group.ts';
import { SqliteFile } from '../../src/store/embedded/sqlite-file.ts';
import { toWriteError } from '../../src/store/embedded/write-errors.ts';
import type { WriteOp } from '../../src/store/embedded/write-ops.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function file(maxDbBytes = 0): SqliteFile {
  const dir = mkdtempSync(join(tmpdir(), 'ctxd-group-'));
  dirs.push(dir);
  return new SqliteFile(join(dir, 'ctxd.sqlite'), 'relaxed', hashSpace(384), { maxDbBytes });
}

const ids = (db: SqliteFile) => db.idsAfter('a', '', 100_000);
const insert = (text: string): WriteOp[] => [{ kind: 'insert', record: makeRecord({ tenant: 'a', text }) }];

describe('commitGroup', () => {
  it('a write failing alone (data JSON cannot take) does not stop the others', () => {
    const db = file();
    const bad = makeRecord({ tenant: 'a', text: 'bad', metadata: { n: 1n } });
    const { failed } = commitGroup(db, [insert('one'), [{ kind: 'insert', record: bad }], insert('two')]);
    expect(failed[0]).toBeNull();
    expect(failed[1]!.message).toMatch(/BigInt/);
    expect(toWriteError(failed[1]!)).not.toBeInstanceOf(StoreUnavailableError);
    expect(failed[2]).toBeNull();
    expect(ids(db)).toHaveLength(2);
    db.close();
  });

  it('on SQLITE_FULL commits the data writes before the failing one and fails every write after it, journal entries last', () => {
    const db = file(256 * 1024);
    let i = 0;
    try {
      for (;; i++) db.insert(makeRecord({ tenant: 'a', text: syntheticText(i, 40) }));
    } catch (e) {
      expect((e as { errcode: number }).errcode).toBe(13);
    }
    const [first, second] = ids(db);
    const group: WriteOp[][] = [
      [{ kind: 'delete', tenant: 'a', id: first! }],
      [{ kind: 'request', kid: 'k', id: 'r1', ts: 1 }],
      insert('x'.repeat(200_000)),
      [{ kind: 'delete', tenant: 'a', id: second! }],
      [{ kind: 'request', kid: 'k', id: 'r2', ts: 2 }],
    ];
    const { failed } = commitGroup(db, group);
    // Applied in the order: delete, insert (fails), delete, then the journal entries r1, r2.
    expect(failed[0]).toBeNull();
    expect(failed[2]).toMatchObject({ errcode: 13, message: 'database or disk is full' });
    expect(failed[3]!.message).toMatch(/^not attempted, an earlier write in its commit group failed: database or disk is full/);
    expect(failed[1]).toMatchObject({ errcode: 13 });
    expect(failed[4]).toMatchObject({ errcode: 13 });
    const e = toWriteError(failed[3]!);
    expect(e).toBeInstanceOf(StoreUnavailableError);
    expect((e as StoreUnavailableError).reason).toBe('disk_full');
    // The first delete is committed; nothing after the failure is.
    expect(ids(db)).not.toContain(first);
    expect(ids(db)).toContain(second);
    expect(db.recentRequests(0)).toEqual([]);
    expect(db.db.isTransaction).toBe(false);
    db.close();
  });

  it('on a full database a journal entry submitted before a delete cannot fail the delete', () => {
    const db = file(256 * 1024);
    try {
      for (let i = 0; ; i++) db.insert(makeRecord({ tenant: 'a', text: syntheticText(i, 40) }));
    } catch {
      // full
    }
    const [first] = ids(db);
    const { failed } = commitGroup(db, [[{ kind: 'request', kid: 'k', id: 'r1', ts: 1 }], [{ kind: 'delete', tenant: 'a', id: first! }]]);
    expect(failed[1]).toBeNull();
    expect(ids(db)).not.toContain(first);
    db.close();
  });
});

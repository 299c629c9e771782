/**
 * A data dir written before lexical term hashes were stored (schema 3) with
 * the real daemon: its first start hashes the texts, serves, and stores the
 * hashes in the background (and says so); the next start reads them, and an
 * exact look-up by identifier finds the same context both times.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import type { CtxdClient } from '../../src/client/client.ts';
import { startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';
import { syntheticText } from '../helpers/records.ts';

afterAll(stopAll);

const N = 800;
const textOf = (i: number) => `${syntheticText(i, 12)} see INC-${40_000 + i}`;

function sql<T>(dataDir: string, f: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(dataDir, 'ctxd.sqlite'));
  try {
    return f(db);
  } finally {
    db.close();
  }
}

/** The context the identifier of text `i` finds first. */
async function byIdentifier(c: CtxdClient, i: number): Promise<string | undefined> {
  return (await c.retrieve({ query: `INC-${40_000 + i}`, levels: [3], max_tokens: 200 })).contexts[0]?.id;
}

describe('stored lexical terms, real daemon', () => {
  it('an older data dir is hashed at its first start and its terms stored in the background; the next start reads them', async () => {
    const dataDir = tempDataDir();
    const first = await startDaemon({ dataDir });
    const c = await first.client();
    const ids: string[] = [];
    for (let at = 0; at < N; at += 200) {
      const r = await c.storeBatch(Array.from({ length: 200 }, (_, j) => ({ text: textOf(at + j), level: 3 })));
      for (const item of r.results) ids.push('id' in item ? item.id : '');
    }
    await c.close();
    expect(await first.stop('SIGTERM')).toBe(0);
    // Every row has its terms as written; then the file is made as schema 3 left it.
    expect(sql(dataDir, (db) => db.prepare('SELECT count(*) AS n FROM contexts WHERE terms IS NOT NULL').get())).toEqual({ n: N });
    sql(dataDir, (db) => db.exec("UPDATE contexts SET terms = NULL; UPDATE settings SET value = '3' WHERE key = 'schema_version'"));

    const second = await startDaemon({ dataDir });
    const c2 = await second.client();
    expect(await byIdentifier(c2, 123)).toBe(ids[123]);
    const stored = await second.waitForLog('lexical terms of loaded rows stored', 60_000);
    expect(stored).toMatchObject({ rows: N });
    expect(await byIdentifier(c2, 456)).toBe(ids[456]);
    await c2.close();
    expect(await second.stop('SIGTERM')).toBe(0);
    expect(sql(dataDir, (db) => db.prepare("SELECT count(*) AS n FROM contexts WHERE terms IS NOT NULL AND enc_kid IS NULL").get())).toEqual({ n: N });
    expect(sql(dataDir, (db) => db.prepare("SELECT value FROM settings WHERE key = 'schema_version'").get())).toEqual({ value: '4' });

    const third = await startDaemon({ dataDir });
    const c3 = await third.client();
    expect(await byIdentifier(c3, 789)).toBe(ids[789]);
    expect(await byIdentifier(c3, 123)).toBe(ids[123]);
    await c3.close();
    expect(await third.stop('SIGTERM')).toBe(0);
    // Nothing was left to store.
    expect(third.logs.some((l) => l.msg === 'lexical terms of loaded rows stored')).toBe(false);
  }, 120_000);
});

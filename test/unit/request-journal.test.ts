import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import type { RequestJournal } from '../../src/store/request-journal.ts';
import { makeRecord } from '../helpers/records.ts';

const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function openAt(dataDir: string): Promise<EmbeddedStore> {
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann });
  await s.open();
  return s;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ctxd-journal-'));
  dirs.push(d);
  return d;
}

describe('request journal (embedded store)', () => {
  it('keeps entries across a restart, ignores duplicates, prunes old ones', async () => {
    const dir = tempDir();
    let s: EmbeddedStore & RequestJournal = await openAt(dir);
    await Promise.all([s.recordRequest('k1', 'a', 1_000), s.recordRequest('k1', 'b', 2_000), s.recordRequest('k2', 'a', 3_000)]);
    // A duplicate (kid, id) is ignored: the first timestamp stays.
    await s.recordRequest('k1', 'a', 9_000);
    await s.close();
    s = await openAt(dir);
    expect(s.recentRequests(0)).toEqual([
      { kid: 'k1', id: 'a', ts: 1_000 },
      { kid: 'k1', id: 'b', ts: 2_000 },
      { kid: 'k2', id: 'a', ts: 3_000 },
    ]);
    expect(s.recentRequests(2_000).map((r) => `${r.kid}/${r.id}`)).toEqual(['k1/b', 'k2/a']);
    expect(await s.pruneRequests(2_500)).toBe(2);
    expect(await s.pruneRequests(2_500)).toBe(0);
    await s.close();
    s = await openAt(dir);
    expect(s.recentRequests(0)).toEqual([{ kid: 'k2', id: 'a', ts: 3_000 }]);
    await s.close();
  });

  it('an entry recorded before a write in the same tick commits in the same group, and resolves first', async () => {
    const s = await openAt(tempDir());
    await s.upsert([makeRecord({ tenant: 'a', text: 'warm up' })]);
    const groups = s.commitStats!.groups;
    const order: string[] = [];
    await Promise.all([
      s.recordRequest('k', 'req-1', Date.now()).then(() => order.push('journal')),
      s.upsert([makeRecord({ tenant: 'a', text: 'the request write' })]).then(() => order.push('write')),
    ]);
    expect(s.commitStats!.groups - groups).toBe(1);
    expect(order).toEqual(['journal', 'write']);
    await s.close();
  });
});

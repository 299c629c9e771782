import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import { dataDirMode, tooOpen } from '../../src/store/embedded/data-files.ts';
import { makeRecord } from '../helpers/records.ts';

const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };
const root = mkdtempSync(join(tmpdir(), 'ctxd-modes-'));
const mode = (p: string) => statSync(p).mode & 0o777;
let umask = 0;

beforeAll(() => {
  umask = process.umask(0o022);
});
afterAll(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

async function openWrite(dataDir: string): Promise<EmbeddedStore> {
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann });
  await s.open();
  await s.upsert([makeRecord({ tenant: 'a', text: 'private words' })]);
  return s;
}

describe('data file modes (umask 022)', () => {
  it('creates the data dir 0700 and every data file 0600, -wal and -shm included', async () => {
    const dir = join(root, 'fresh', 'data');
    const s = await openWrite(dir);
    expect(mode(dir)).toBe(0o700);
    for (const f of ['ctxd.sqlite', 'ctxd.sqlite-wal', 'ctxd.sqlite-shm', 'ctxd.lock', 'ctxd.pid']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
      expect(mode(join(dir, f)).toString(8), f).toBe('600');
    }
    expect(dataDirMode(dir)).toBe(0o700);
    await s.close();
  });

  it('tightens an existing 0644 database and its WAL files, and leaves an existing dir for the daemon to warn about', async () => {
    const dir = join(root, 'old');
    await (await openWrite(dir)).close();
    chmodSync(dir, 0o755);
    for (const f of ['ctxd.sqlite', 'ctxd.sqlite-wal', 'ctxd.sqlite-shm', 'ctxd.pid']) {
      // A clean close removes -wal and -shm; empty ones stand in for those an older version left 0644 after a crash.
      if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), '');
      chmodSync(join(dir, f), 0o644);
    }
    const s = await openWrite(dir);
    for (const f of ['ctxd.sqlite', 'ctxd.sqlite-wal', 'ctxd.sqlite-shm', 'ctxd.pid']) expect(mode(join(dir, f)).toString(8), f).toBe('600');
    expect(dataDirMode(dir)).toBe(0o755);
    expect(tooOpen(dataDirMode(dir)!)).toBe(true);
    expect(dataDirMode(join(root, 'missing'))).toBeNull();
    await s.close();
  });
});

/**
 * Writes that cannot be sent, and writes the storage cannot take: the first
 * fail alone without taking the process down; the second reject with
 * StoreUnavailableError, turn health off, and health comes back by itself.
 * A full disk is made with `maxDbBytes` (SQLite's max_page_count), which
 * fails writes with SQLITE_FULL exactly as a full disk does.
 */
import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContextRecord } from '../../src/domain/context.ts';
import { StoreUnavailableError } from '../../src/domain/errors.ts';
import { EmbeddedStore, type EmbeddedStoreOptions } from '../../src/store/embedded/embedded-store.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function open(over: Partial<EmbeddedStoreOptions> = {}): Promise<EmbeddedStore> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ctxd-avail-'));
  dirs.push(dataDir);
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann, ...over });
  await s.open();
  return s;
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const until = async (what: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !what() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
  return what();
};

/** Upserts records one at a time until one is refused; returns those stored and the error. */
async function fill(s: EmbeddedStore): Promise<{ stored: ContextRecord[]; error: unknown; refused: ContextRecord }> {
  const stored: ContextRecord[] = [];
  for (let i = 0; i < 10_000; i++) {
    const r = makeRecord({ tenant: 'a', text: syntheticText(i, 40) });
    const error = await s.upsert([r]).then(() => null, (e: unknown) => e);
    if (error) return { stored, error, refused: r };
    stored.push(r);
  }
  throw new Error('never filled up');
}

describe('a write that cannot be passed to the writer thread', () => {
  it('rejects alone (metadata nested 5,000 deep) while the write beside it commits, and the process lives on', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const s = await open();
      const bad = makeRecord({ tenant: 'a', text: 'deep', metadata: { deep: nested(5_000) } });
      const good = makeRecord({ tenant: 'a', text: 'plain record' });
      // Same tick: one group, one postMessage that throws.
      const [b, g] = await Promise.allSettled([s.upsert([bad]), s.upsert([good])]);
      expect(b.status).toBe('rejected');
      expect(((b as PromiseRejectedResult).reason as Error).message).toMatch(/cannot be passed to the writer thread: Maximum call stack size exceeded/);
      expect((b as PromiseRejectedResult).reason).not.toBeInstanceOf(StoreUnavailableError);
      expect(g.status).toBe('fulfilled');
      expect((await s.get('a', [bad.id, good.id])).map((d) => d.id)).toEqual([good.id]);
      expect(s.commitStats).toMatchObject({ failedWrites: 1, unavailableWrites: 0, diskFull: 0, writes: 1 });
      expect(s.health().ok).toBe(true);
      // The committer still works, and the good record is on disk.
      await s.upsert([makeRecord({ tenant: 'a', text: 'after' })]);
      const path = (s as unknown as { opts: EmbeddedStoreOptions }).opts.dataDir;
      await s.close();
      const again = new EmbeddedStore({ dataDir: path, space: hashSpace(384), durability: 'relaxed', ann });
      await again.open();
      expect(await again.count('a', {})).toBe(2);
      await again.close();
      await new Promise((r) => setTimeout(r, 20));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

describe('a full database (maxDbBytes)', () => {
  it('rejects with StoreUnavailableError disk_full, applies nothing, turns health off; deletes still work; the probe brings health back', async () => {
    const s = await open({ maxDbBytes: 256 * 1024, probeIntervalMs: 50 });
    const { stored, error, refused } = await fill(s);
    expect(stored.length).toBeGreaterThan(20);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as StoreUnavailableError).reason).toBe('disk_full');
    expect((error as Error).message).toContain('database or disk is full');
    // Never acknowledged, never applied in memory.
    expect(await s.get('a', [refused.id])).toEqual([]);
    expect(s.usage('a').contexts).toBe(stored.length);
    expect(await s.count('a', {})).toBe(stored.length);
    expect(s.health()).toMatchObject({ ok: false });
    expect(s.health().detail).toContain('disk_full');
    expect(s.commitStats).toMatchObject({ diskFull: 1, unavailableWrites: 1, failedWrites: 1 });
    // A patch that grows a record and an access count fail the same way or succeed; nothing half-applied either way.
    const grow = await s.patch('a', stored[0]!.id, { text: 'x'.repeat(300_000) }).then(() => null, (e: unknown) => e);
    expect(grow).toBeInstanceOf(StoreUnavailableError);
    expect((await s.get('a', [stored[0]!.id]))[0]!.text).toBe(stored[0]!.text);

    // Deletes free pages and succeed on a full database; they alone do not prove there is room again.
    const probesBefore = s.commitStats!.probes;
    expect(await s.delete('a', stored.map((r) => r.id))).toBe(stored.length);
    expect(s.usage('a')).toEqual({ contexts: 0, textBytes: 0 });
    expect(await until(() => s.health().ok, 3_000)).toBe(true);
    expect(s.commitStats!.probes).toBeGreaterThan(probesBefore);
    await s.upsert([refused]);
    expect((await s.get('a', [refused.id])).map((d) => d.id)).toEqual([refused.id]);
    await s.close();
  });

  it('without a probe (long interval), the next write that commits brings health back', async () => {
    const s = await open({ maxDbBytes: 256 * 1024, probeIntervalMs: 60_000 });
    const { stored, refused } = await fill(s);
    expect(s.health().ok).toBe(false);
    await s.delete('a', stored.map((r) => r.id));
    expect(s.health().ok).toBe(false);
    await s.upsert([refused]);
    expect(s.health()).toMatchObject({ ok: true, detail: '1 records' });
    expect(s.commitStats!.probes).toBe(0);
    await s.close();
  });

  it('stays unhealthy while the probe finds no room, and answers writes on a closed store with reason closed', async () => {
    const s = await open({ maxDbBytes: 256 * 1024, probeIntervalMs: 20 });
    await fill(s);
    expect(await until(() => s.commitStats!.probes >= 3, 3_000)).toBe(true);
    expect(s.health().ok).toBe(false);
    // Probes are not callers' writes.
    expect(s.commitStats).toMatchObject({ failedWrites: 1, diskFull: 1 });
    await s.close();
    const closed = await s.upsert([makeRecord({ tenant: 'a', text: 'late' })]).then(() => null, (e: unknown) => e);
    expect(closed).toBeInstanceOf(StoreUnavailableError);
    expect((closed as StoreUnavailableError).reason).toBe('closed');
  });

  it('a writer thread that died makes every write StoreUnavailableError write_failed, health off, and close still returns', async () => {
    const s = await open();
    const committer = (s as unknown as { committer: { worker: { terminate(): Promise<number> } } }).committer;
    await committer.worker.terminate();
    const e = await s.upsert([makeRecord({ tenant: 'a', text: 'after the crash' })]).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(StoreUnavailableError);
    expect((e as StoreUnavailableError).reason).toBe('write_failed');
    expect(s.health()).toMatchObject({ ok: false });
    expect(s.health().detail).toContain('writer thread');
    await s.close();
  });
});

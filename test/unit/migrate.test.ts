/**
 * The copy and the checks behind `ctxd migrate` (src/store/migrate.ts) between
 * two in-process embedded stores: records arrive whole, a run stopped after
 * any batch resumes from its saved cursor, a finished copy only verifies,
 * another tenant's id is a conflict, and a difference is found by the sample.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ContextRecord } from '../../src/domain/context.ts';
import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import { migrate, quotas, MigrateRefusal, type MigrateState, type MigrateStateStore } from '../../src/store/migrate.ts';
import { removeDir, tempDataDir } from '../helpers/daemon.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const dirs: string[] = [];
const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };

async function store(): Promise<EmbeddedStore> {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  const s = new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann });
  await s.open();
  return s;
}

afterAll(() => dirs.forEach(removeDir));

/** A state store in memory that can be told to "crash" (throw) at its n-th save, after the batch was written. */
function memoryState(crashAtSave = Infinity): MigrateStateStore & { saved: MigrateState | null; saves: number } {
  const s = {
    saved: null as MigrateState | null,
    saves: 0,
    load: async () => s.saved,
    save: async (state: MigrateState) => {
      if (++s.saves === crashAtSave) throw new Error('killed');
      s.saved = structuredClone(state);
    },
  };
  return s;
}

function records(): ContextRecord[] {
  const t0 = 1_700_000_000_000;
  const out: ContextRecord[] = [];
  for (let i = 0; i < 57; i++) {
    out.push(makeRecord({
      tenant: i % 3 === 0 ? 'acme' : i % 3 === 1 ? 'globex' : 'initech',
      text: syntheticText(i),
      level: ((i % 3) + 1) as 1 | 2 | 3,
      session: `s${i % 4}`,
      agent: i % 2 ? 'planner' : null,
      tags: i % 5 ? ['x', `t${i}`] : [],
      metadata: i % 7 ? { n: i, nested: { ok: true } } : {},
      createdTs: t0 + i,
      ts: t0 + 1000 + i,
      expiresAt: i % 3 === 1 ? t0 + 86_400_000 : null,
      accessCount: i % 4,
      version: 1 + (i % 3),
    }));
  }
  return out;
}

describe('migrate', () => {
  it('copies every record whole, resumes after a crash at any batch, and then only verifies', async () => {
    const src = await store();
    const all = records();
    await src.upsert(all);
    const dst = await store();
    const opts = { scope: 'a -> b', batch: 5, sample: 1000 };

    // Crashes after the 4th batch was written, before its cursor was saved: that batch is sent again.
    const state = memoryState(4);
    await expect(migrate(src, dst, { ...opts, state })).rejects.toThrow('killed');
    expect(state.saved).toMatchObject({ done: false, cursor: { tenant: 'acme' }, counts: { inserted: 15 } });

    const progress: number[] = [];
    const resumed = await migrate(src, dst, { ...opts, state, onProgress: (done) => progress.push(done) });
    expect(resumed).toMatchObject({ resumed: true, alreadyDone: false, contexts: 57, tenants: 3, verified: true });
    // The batch written before the crash (acme's last 4) is sent again and counted as kept.
    expect(resumed.counts).toEqual({ inserted: 53, replaced: 0, kept: 4, taken: 0 });
    expect(resumed.copied).toBe(57 - 15);
    expect(progress.at(-1)).toBe(57);
    expect(resumed.verification).toMatchObject({ missing: 0, sampled: 57, differing: 0 });
    expect(resumed.verification.perTenant).toEqual([
      { tenant: 'acme', source: 19, present: 19 },
      { tenant: 'globex', source: 19, present: 19 },
      { tenant: 'initech', source: 19, present: 19 },
    ]);
    const ids = all.map((r) => r.id);
    for (const t of ['acme', 'globex', 'initech']) {
      const mine = all.filter((r) => r.tenant === t).map((r) => r.id);
      expect(await dst.get(t, mine)).toEqual(await src.get(t, mine));
      const [a, b] = [await src.vectors(t, mine), await dst.vectors(t, mine)];
      for (const id of mine) expect(Buffer.from(b.get(id)!.buffer)).toEqual(Buffer.from(a.get(id)!.buffer));
    }
    expect((await dst.locate(ids)).size).toBe(57);

    // Done: a further run writes nothing and only verifies.
    const saves = state.saves;
    const again = await migrate(src, dst, { ...opts, state });
    expect(again).toMatchObject({ alreadyDone: true, copied: 0, verified: true });
    expect(state.saves).toBe(saves);

    // A state of another copy is refused.
    await expect(migrate(src, dst, { ...opts, scope: 'a -> c', state })).rejects.toBeInstanceOf(MigrateRefusal);

    // 12 batches (19 contexts per tenant: 5+5+5+4) and the final save: a crash at any of them resumes to the same copy.
    for (const crashAt of [1, 5, 8, 12, 13]) {
      const d = await store();
      const st = memoryState(crashAt);
      await expect(migrate(src, d, { ...opts, state: st })).rejects.toThrow('killed');
      const r = await migrate(src, d, { ...opts, state: st });
      expect(r, `crash at save ${crashAt}`).toMatchObject({ resumed: crashAt > 1, verified: true, verification: { missing: 0, sampled: 57, differing: 0 } });
      expect(r.counts.inserted + r.counts.kept).toBe(57);
      for (const t of ['acme', 'globex', 'initech']) expect(await d.count(t, {})).toBe(19);
      await d.close();
    }
    await src.close();
    await dst.close();
  });

  it('copies one tenant, reports ids another tenant holds, and finds a changed record in the sample', async () => {
    const src = await store();
    const dst = await store();
    const mine = Array.from({ length: 12 }, (_, i) => makeRecord({ tenant: 'acme', text: syntheticText(100 + i) }));
    const other = makeRecord({ tenant: 'globex', text: 'other tenant' });
    await src.upsert([...mine, other]);
    await expect(migrate(src, dst, { scope: 's', state: memoryState(), batch: 4, sample: 5, tenant: 'nobody' })).rejects.toBeInstanceOf(MigrateRefusal);
    // The destination already holds one of acme's ids under another tenant.
    await dst.upsert([{ ...mine[3]!, tenant: 'hooli' }]);
    const r = await migrate(src, dst, { scope: 's', state: memoryState(), batch: 4, sample: 12, tenant: 'acme' });
    expect(r).toMatchObject({ tenants: 1, contexts: 12, verified: false, counts: { inserted: 11, taken: 1 } });
    expect(r.verification).toMatchObject({ missing: 1, sampled: 12, differing: 1 });
    expect(r.verification.differences[0]).toEqual({ tenant: 'acme', id: mine[3]!.id, what: 'held by tenant hooli' });
    expect(await dst.tenants()).not.toContain('globex');

    // A record changed in the destination (same version): only the sample can tell.
    const dst2 = await store();
    await migrate(src, dst2, { scope: 's', state: memoryState(), batch: 4, sample: 0 });
    await dst2.upsert([{ ...mine[5]!, accessCount: 99 }]);
    const check = await migrate(src, dst2, { scope: 's', state: memoryState(), batch: 4, sample: 100 });
    expect(check).toMatchObject({ verified: false, counts: { kept: 13 } });
    expect(check.verification).toMatchObject({ missing: 0, sampled: 13, differing: 1, differences: [{ tenant: 'acme', id: mine[5]!.id, what: 'accessCount' }] });
    for (const s of [src, dst, dst2]) await s.close();
  });

  it('spreads the sample over tenants in proportion, at least one each', () => {
    expect(Object.fromEntries(quotas(new Map([['a', 1000], ['b', 10], ['c', 0]]), 200))).toEqual({ a: 198, b: 2 });
    expect(Object.fromEntries(quotas(new Map([['a', 3], ['b', 2]]), 200))).toEqual({ a: 3, b: 2 });
    expect([...quotas(new Map([['a', 50], ['b', 50]]), 7).values()].sort()).toEqual([3, 4]);
    expect(Object.fromEntries(quotas(new Map([['a', 100], ['b', 1], ['c', 1]]), 3))).toEqual({ a: 1, b: 1, c: 1 });
    expect([...quotas(new Map([['a', 5], ['b', 5], ['c', 5]]), 2).values()].reduce((x, y) => x + y)).toBe(2);
    expect(quotas(new Map([['a', 5]]), 0).size).toBe(0);
  });
});

/**
 * When a partition reports its graph built (`GraphBuildMode.onBuilt`, the daemon's `ann graphs built`): once the graph
 * holds every row and the switch of its vectors to half precision has ended, exactly once, whether the switch took many
 * turns or ended within the build's last step (a partition of one slice); and not when the switch was undone because
 * the partition shrank below the threshold (nothing built to report).
 */
import { describe, expect, it } from 'vitest';
import type { GraphBuildMode } from '../../src/store/embedded/ann-graph.ts';
import { Partition } from '../../src/store/embedded/partition.ts';
import { termHashes } from '../../src/domain/lexical.ts';
import { makeRecord, syntheticText } from '../helpers/records.ts';

const DIMS = 384;
const turn = () => new Promise((r) => setImmediate(r));

function background(): { mode: GraphBuildMode; reports: Array<{ pending: number; halving: number }> } {
  const reports: Array<{ pending: number; halving: number }> = [];
  const mode: GraphBuildMode = { background: true, pending: 0, halving: 0, onBuilt: () => reports.push({ pending: mode.pending, halving: mode.halving }) };
  return { mode, reports };
}

function add(p: Partition, from: number, n: number): void {
  const records = Array.from({ length: n }, (_, i) => makeRecord({ tenant: 't', text: `${syntheticText(from + i, 12)} #${from + i}` }));
  const rows = records.map((r, i) => {
    const { text, vector: _v, terms: _t, ...meta } = r;
    return { meta, key: from + i + 1, textBytes: Buffer.byteLength(text), terms: new Uint32Array() };
  });
  p.addMany(rows, records.map((r) => r.vector), records.map((r) => termHashes(r.text)));
}

/** Turns until nothing is left to build or switch (bounded). */
async function settle(mode: GraphBuildMode): Promise<void> {
  for (let i = 0; i < 1000 && (mode.pending > 0 || mode.halving > 0); i++) await turn();
}

describe('graph build report', () => {
  for (const rows of [1000, 3000]) {
    it(`reports once, after the switch to halves has ended (${rows} rows, threshold 500)`, async () => {
      const { mode, reports } = background();
      const p = new Partition(DIMS, { threshold: 500, connectivity: 16, expansionAdd: 64, expansionSearch: 64 }, mode);
      add(p, 0, rows);
      await settle(mode);
      for (let i = 0; i < 5; i++) await turn();
      expect(p.hasGraph).toBe(true);
      expect(reports).toEqual([{ pending: 0, halving: 0 }]);
    });
  }

  it('does not report a switch undone by the partition shrinking below the threshold', async () => {
    const { mode, reports } = background();
    const p = new Partition(DIMS, { threshold: 2000, connectivity: 16, expansionAdd: 64, expansionSearch: 64 }, mode);
    add(p, 0, 3000);
    // The graph is built; its switch is under way (a slice a turn).
    for (let i = 0; i < 1000 && !(mode.pending === 0 && mode.halving > 0); i++) await turn();
    expect(mode.halving).toBeGreaterThan(0);
    expect(reports).toEqual([]);
    for (let key = 1; key <= 1500; key++) p.remove(key);
    expect(p.hasGraph).toBe(false);
    // An exact search makes float32s again: the switch ends undone, and nothing is reported.
    expect(p.search({ vector: makeRecord({ tenant: 't', text: syntheticText(2500, 12) }).vector }, {}, 3)).toHaveLength(3);
    expect(mode.halving).toBe(0);
    await settle(mode);
    expect(reports).toEqual([]);
  });
});

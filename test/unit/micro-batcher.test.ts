import { describe, expect, it } from 'vitest';
import type { Embedder } from '../../src/engine/text/embedder.ts';
import { MicroBatcher } from '../../src/engine/text/micro-batcher.ts';

/** An embedder whose calls wait until released, recording what each carried. */
class GatedEmbedder implements Embedder {
  readonly identity = { kind: 'test', model: 'gated', dims: 1 };
  readonly maxBatch: number;
  readonly concurrency = 1;
  readonly threads = 0;
  readonly chunkRule = null;
  readonly calls: string[][] = [];
  private release: Array<(fail: boolean) => void> = [];

  constructor(maxBatch: number) {
    this.maxBatch = maxBatch;
  }

  embed(texts: readonly string[]): Promise<Float32Array[]> {
    this.calls.push([...texts]);
    return new Promise((res, rej) => this.release.push((fail) => (fail ? rej(new Error('down')) : res(texts.map((t) => Float32Array.of(t.length))))));
  }

  /** Lets the oldest call answer (or fail), then a turn for the batcher to send the next one. */
  async next(fail = false): Promise<void> {
    this.release.shift()!(fail);
    await new Promise((r) => setImmediate(r));
  }

  async close(): Promise<void> {}
}

describe('micro-batcher', () => {
  it('sends a lone text at once, then fills the next call from what queued meanwhile', async () => {
    const e = new GatedEmbedder(4);
    const b = new MicroBatcher(e);
    const first = b.embed(['a']);
    const rest = ['bb', 'ccc', 'dddd', 'eeeee', 'ffffff'].map((t) => b.embed([t]));
    expect(e.calls).toEqual([['a']]);
    await e.next();
    expect(e.calls[1]).toEqual(['bb', 'ccc', 'dddd', 'eeeee']);
    await e.next();
    await e.next();
    expect(e.calls[2]).toEqual(['ffffff']);
    expect((await first)[0]![0]).toBe(1);
    expect((await Promise.all(rest)).map((v) => v[0]![0])).toEqual([2, 3, 4, 5, 6]);
  });

  it('serves a store that arrives behind big batches in the next calls, not after them', async () => {
    const e = new GatedEmbedder(4);
    const b = new MicroBatcher(e);
    void b.embed(['busy']);
    for (let k = 0; k < 6; k++) void b.embed(Array.from({ length: 200 }, (_, i) => `big${k}-${i}`));
    const small = b.embed(['small']);
    let calls = 0;
    let done = false;
    void small.then(() => (done = true));
    while (!done && calls < 20) {
      await e.next();
      calls++;
    }
    expect(done).toBe(true);
    expect(calls).toBeLessThanOrEqual(4);
  });

  it('queries go first; a failed call fails exactly its requests, once, and the rest go on', async () => {
    const e = new GatedEmbedder(2);
    const b = new MicroBatcher(e);
    void b.embed(['hold']);
    const store = b.embed(['s1', 's2', 's3']).catch((err: Error) => err);
    const query = b.embed(['q'], { query: true }).catch((err: Error) => err);
    const other = b.embed(['o1']);
    await e.next();
    // The second call carries the query and one text of the first store.
    expect(e.calls[1]).toEqual(['q', 's1']);
    await e.next(true);
    expect(((await query) as Error).message).toBe('down');
    expect(((await store) as Error).message).toBe('down');
    // The failed store's other texts are dropped; the other request goes on.
    expect(e.calls[2]).toEqual(['o1']);
    await e.next();
    expect((await other)[0]![0]).toBe(2);
  });

  it('drops a request whose deadline passed while it waited', async () => {
    const e = new GatedEmbedder(2);
    const b = new MicroBatcher(e);
    void b.embed(['hold']);
    const late = b.embed(['late'], { deadline: Date.now() - 1 }).catch((err: Error) => err);
    await e.next();
    expect(((await late) as Error).message).toMatch(/deadline/);
    expect(e.calls.flat()).not.toContain('late');
  });
});

/**
 * Filters that few contexts match, over an L3 its ANN graph serves (the real daemon): a retrieve by agent, tags or
 * metadata, and a delete_where by session, find exactly the contexts that match, before and after updates, through
 * the field index (src/store/embedded/field-index.ts) rather than a scan of the whole level.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CtxdClient, OpRequest } from '../../src/client/index.ts';
import { startDaemon, stopAll, type RunningDaemon } from '../helpers/daemon.ts';
import { syntheticText } from '../helpers/records.ts';

const N = 3000;
const textOf = (i: number) => `${syntheticText(i, 12)} #${i}`;
const agentOf = (i: number) => (i % 5 === 0 ? undefined : `a${i % 50}`);
const tagsOf = (i: number) => (i % 3 === 0 ? [] : [`t${i % 40}`, `u${i % 7}`]);
const metadataOf = (i: number) => (i % 4 === 0 ? {} : { team: `team${i % 100}`, n: i % 11 });

let d: RunningDaemon;
let c: CtxdClient;
const ids: string[] = [];

beforeAll(async () => {
  d = await startDaemon({ args: ['--set', 'store.ann_threshold=2000'] });
  c = await d.client({ timeoutMs: 60_000 });
  const built = d.waitForLog('ann graphs built', 120_000);
  for (let at = 0; at < N; at += 500) {
    const items = Array.from({ length: 500 }, (_, j) => {
      const i = at + j;
      const agent = agentOf(i);
      return { text: textOf(i), level: 3 as const, session: `s${i % 300}`, ...(agent ? { agent } : {}), tags: tagsOf(i), metadata: metadataOf(i) };
    });
    const r = await c.storeBatch(items);
    for (const item of r.results) ids.push('id' in item ? item.id : '');
  }
  expect(ids.filter(Boolean)).toHaveLength(N);
  await built;
});
afterAll(async () => {
  await c.close();
  await stopAll();
});

/** Every L3 context matching the filter: a generous budget and no relevance floor, so the filter alone decides. */
async function retrieved(filter: Omit<OpRequest<'retrieve'>, 'query'>): Promise<string[]> {
  const r = await c.retrieve({ query: 'deploy the payments service', levels: [3], max_tokens: 20_000, min_similarity: -1, ...filter });
  return r.contexts.map((x) => x.id).sort();
}

const where = (pick: (i: number) => boolean) => ids.filter((_, i) => pick(i)).sort();

describe('selective filters over a graph-served level, real daemon', () => {
  it('a retrieve finds exactly the contexts its agent, tags or metadata filter matches', async () => {
    expect(await retrieved({ agent: 'a3' })).toEqual(where((i) => agentOf(i) === 'a3'));
    expect(await retrieved({ agent: 'nobody' })).toEqual([]);
    expect(await retrieved({ tags_all: ['t5', 'u5'] })).toEqual(where((i) => tagsOf(i).includes('t5') && tagsOf(i).includes('u5')));
    expect(await retrieved({ tags_any: ['t3', 't17', 'none'] })).toEqual(where((i) => tagsOf(i).includes('t3') || tagsOf(i).includes('t17')));
    expect(await retrieved({ where: { team: 'team42' } })).toEqual(where((i) => metadataOf(i).team === 'team42'));
    expect(await retrieved({ where: { team: 'team42', n: 9 } })).toEqual(where((i) => metadataOf(i).team === 'team42' && metadataOf(i).n === 9));
    expect(await retrieved({ where: { n: '9' } })).toEqual([]);
  });

  it('follows updates of metadata and tags', async () => {
    const moved = where((i) => metadataOf(i).team === 'team42').slice(0, 3);
    for (const id of moved) await c.update(id, { metadata: { team: 'team43' }, tags: ['fresh'] });
    expect(await retrieved({ where: { team: 'team42' } })).toEqual(where((i) => metadataOf(i).team === 'team42').filter((id) => !moved.includes(id)));
    expect(await retrieved({ where: { team: 'team43' } })).toEqual([...where((i) => metadataOf(i).team === 'team43'), ...moved].sort());
    expect(await retrieved({ tags_any: ['fresh'] })).toEqual([...moved].sort());
  });

  it('a delete_where by session deletes exactly that session', async () => {
    const before = (await c.stats()).total;
    expect(await c.deleteWhere({ session: 's7', level: 3 })).toEqual({ deleted: N / 300 });
    expect((await c.stats()).total).toBe(before - N / 300);
    expect(await c.deleteWhere({ session: 's7', level: 3 })).toEqual({ deleted: 0 });
    expect(await retrieved({ agent: 'a7' })).toEqual(where((i) => agentOf(i) === 'a7' && i % 300 !== 7));
  });
});

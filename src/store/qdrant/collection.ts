/**
 * Makes the collection ready on open, idempotently and safely when several
 * replicas open at once: create it if missing (losing a creation race to
 * another replica is fine: the collection is then checked like any existing
 * one), check its vectors against the configured space (layout.ts), create
 * the payload indexes it lacks (`wait: true`: filters need them from the
 * first request). Every call goes through the caller (breaker); a 4xx or a
 * layout mismatch is a configuration problem and is thrown as such.
 *
 * The server must be Qdrant ≥ 1.19: `params.idf.corpus` (per-tenant IDF) came
 * in 1.19.0 (qdrant/qdrant #9661) and `update_mode` in 1.17.0 (#7963), and an
 * older server silently ignores an unknown `idf` search param (SearchParams
 * does not deny unknown fields), which would score every tenant with IDF over
 * all tenants — a side channel — so an older server is refused.
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import type { QdrantCaller } from './call.ts';
import { checkCollection, createCollectionParams, missingIndexes, type LayoutOptions } from './layout.ts';

export const MIN_QDRANT: readonly [number, number] = [1, 19];

/** Throws when a server version string is older than MIN_QDRANT (an unparsable one is let through). */
export function checkServerVersion(version: string): void {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) return;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_QDRANT[0] || (major === MIN_QDRANT[0] && minor < MIN_QDRANT[1])) {
    throw new Error(`qdrant ${version} is too old: ctxd needs Qdrant ${MIN_QDRANT.join('.')} or later (per-tenant IDF, conditional upserts)`);
  }
}

export async function ensureCollection(client: QdrantClient, caller: QdrantCaller, collection: string, layout: LayoutOptions): Promise<void> {
  checkServerVersion((await caller.run('version check', () => client.versionInfo(), { write: false })).version);
  const { exists } = await caller.run('collection check', () => client.collectionExists(collection), { write: false });
  if (!exists) {
    try {
      await caller.run('collection create', () => client.createCollection(collection, createCollectionParams(layout)), { write: true });
    } catch (err) {
      // Another replica may have created it meanwhile; anything else stands.
      const again = await caller.run('collection check', () => client.collectionExists(collection), { write: false });
      if (!again.exists) throw err;
    }
  }
  const info = await caller.run('collection info', () => client.getCollection(collection), { write: false });
  checkCollection(info, layout, collection);
  for (const idx of missingIndexes(info)) {
    await caller.run(`payload index ${idx.field_name}`, () => client.createPayloadIndex(collection, { ...idx, wait: true }), { write: true });
  }
}

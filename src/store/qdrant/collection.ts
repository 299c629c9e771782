/**
 * Makes the collection ready on open, idempotently and safely when several
 * replicas open at once: create it if missing (losing a creation race to
 * another replica is fine: the collection is then checked like any existing
 * one), check its vectors against the configured space (layout.ts), create
 * the payload indexes it lacks (`wait: true`: filters need them from the
 * first request). Every call goes through the caller (breaker); a 4xx or a
 * layout mismatch is a configuration problem and is thrown as such.
 */
import type { QdrantClient } from '@qdrant/js-client-rest';
import type { QdrantCaller } from './call.ts';
import { checkCollection, createCollectionParams, missingIndexes, type LayoutOptions } from './layout.ts';

export async function ensureCollection(client: QdrantClient, caller: QdrantCaller, collection: string, layout: LayoutOptions): Promise<void> {
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

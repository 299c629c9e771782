/**
 * The storage half of the composition root: builds the configured backend
 * (store.backend) with its breaker and secrets. The one place that knows
 * which backend is which; the daemon and the CLI see a StoreBackend.
 */
import type { Config } from '../config/schema.ts';
import { spaceOf } from '../engine/text/registry.ts';
import { Breaker, type BreakerRegistry } from '../resilience/breaker.ts';
import type { StoreBackend, QuarantineEntry } from './backend.ts';
import { EmbeddedStore, type GraphFilesEvent, type SnapshotEvent } from './embedded/embedded-store.ts';
import type { TermsStored } from './embedded/terms-backfill.ts';
import type { AdmitCheck } from './embedded/loader.ts';
import type { DataKeys } from './encryption/data-keys.ts';
import { MemoryRequestJournal } from './memory-request-journal.ts';
import type { QdrantStore as QdrantStoreClass } from './qdrant/qdrant-store.ts';
import { trustCaFile } from './trusted-ca.ts';
import { createRequire } from 'node:module';

/**
 * The Qdrant backend's module, loaded only when it is configured: its client cost every start 0.1 s (compile cache on) to 0.25 s.
 * require() of an ES module (Node ≥ 22.12) keeps the store's creation synchronous, and gives the same module instance
 * as an import of it would.
 */
function qdrantStoreClass(): typeof QdrantStoreClass {
  const load = createRequire(import.meta.url);
  return (load('./qdrant/qdrant-store.ts') as { QdrantStore: typeof QdrantStoreClass }).QdrantStore;
}

export interface StoreSetup {
  readonly config: Config;
  /** The data keys of encryption at rest (embedded only); null: stored in the clear. */
  readonly dataKeys?: DataKeys | null;
  /** Where the breaker of a remote backend is registered (for /health and /metrics). */
  readonly breakers: BreakerRegistry;
  /** The value of the variable store.qdrant.api_key_env names, read by the CLI; never logged. */
  readonly qdrantApiKey?: string | null;
  /** Today's rules for stored tags and metadata; failing rows are quarantined at load (embedded). */
  readonly admit?: AdmitCheck;
  readonly onQuarantine?: (entry: QuarantineEntry) => void;
  /** The ANN graphs built after the load are complete (embedded). */
  readonly onGraphsBuilt?: () => void;
  /** Saved ANN graphs loaded, saved or refused (embedded). */
  readonly onGraphFiles?: (event: GraphFilesEvent) => void;
  /** The index snapshot loaded, refused or saved (embedded). */
  readonly onSnapshot?: (event: SnapshotEvent) => void;
  /** Term hashes computed at the load stored for rows that had none (embedded). */
  readonly onTermsStored?: (event: TermsStored) => void;
}

export function createStore(setup: StoreSetup): StoreBackend {
  return setup.config.store.backend === 'qdrant' ? qdrantBackend(setup) : embeddedBackend(setup);
}

function embeddedBackend(setup: StoreSetup): StoreBackend {
  const { config } = setup;
  const store = new EmbeddedStore({
    dataDir: config.data_dir,
    dataKeys: setup.dataKeys ?? null,
    space: spaceOf(config),
    onGraphsBuilt: setup.onGraphsBuilt,
    onGraphFiles: setup.onGraphFiles,
    onTermsStored: setup.onTermsStored,
    onSnapshot: setup.onSnapshot,
    durability: config.store.durability,
    maxDbBytes: config.store.max_db_bytes,
    admit: setup.admit,
    onQuarantine: setup.onQuarantine,
    textCacheBytes: config.store.text_cache_bytes,
    ann: {
      threshold: config.store.ann_threshold,
      connectivity: config.store.ann_connectivity,
      expansionAdd: config.store.ann_expansion_add,
      expansionSearch: config.store.ann_expansion_search,
      expansionNearest: config.store.ann_expansion_dedup,
    },
  });
  return {
    store,
    journal: store,
    journalDurable: true,
    recentTurnsBytes: 0,
    quarantined: () => store.quarantined,
    commitStats: () => store.commitStats,
    textCache: () => ({ ...store.texts.stats, bytes: store.texts.bytes }),
    backup: (dir) => store.backup(dir),
    sealing: {
      state: () => store.encryption(),
      rekey: (keys, after, limit, opts) => store.rekey(keys, after, limit, opts),
    },
  };
}

/** No quarantine and no group commits in a remote store. */
const NOTHING_QUARANTINED = { count: 0, sample: [] } as const;

function qdrantBackend(setup: StoreSetup): StoreBackend {
  const q = setup.config.store.qdrant;
  if (q.tls_ca_file) trustCaFile('store.qdrant.tls_ca_file', q.tls_ca_file);
  const breaker = new Breaker({
    name: 'store',
    // Each request has its own deadline (timeout_ms, enforced by the client).
    timeoutMs: false,
    errorThresholdPercentage: q.breaker_error_percentage,
    volumeThreshold: q.breaker_volume_threshold,
    resetTimeoutMs: q.breaker_reset_ms,
    rollingCountTimeoutMs: q.breaker_window_ms,
  });
  setup.breakers.add(breaker);
  const QdrantStore = qdrantStoreClass();
  const store = new QdrantStore({
    url: q.url,
    apiKey: setup.qdrantApiKey ?? null,
    collection: q.collection,
    space: spaceOf(setup.config),
    timeoutMs: q.timeout_ms,
    maxConnections: q.max_connections,
    shardNumber: q.shard_number,
    replicationFactor: q.replication_factor,
    writeConsistencyFactor: q.write_consistency_factor,
    onDiskVectors: q.on_disk_vectors,
    onDiskPayload: q.on_disk_payload,
    usageRefreshMs: q.usage_refresh_s * 1000,
    breaker,
  });
  return {
    store,
    // Replay ids live in this process only (PRODUCTION.md "Scaling out": what holds across replicas and restarts).
    journal: new MemoryRequestJournal(),
    journalDurable: false,
    recentTurnsBytes: q.recent_l1_max_bytes,
    quarantined: () => NOTHING_QUARANTINED,
    commitStats: () => undefined,
    textCache: () => undefined,
  };
}

/**
 * The storage half of the composition root: builds the configured backend
 * (store.backend) with its breaker and secrets. The one place that knows
 * which backend is which; the daemon and the CLI see a StoreBackend.
 */
import type { Config } from '../config/schema.ts';
import { spaceOf } from '../engine/text/registry.ts';
import type { BreakerRegistry } from '../resilience/breaker.ts';
import type { StoreBackend, QuarantineEntry } from './backend.ts';
import { EmbeddedStore } from './embedded/embedded-store.ts';
import type { AdmitCheck } from './embedded/loader.ts';
import type { DataKeys } from './encryption/data-keys.ts';

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
    durability: config.store.durability,
    maxDbBytes: config.store.max_db_bytes,
    admit: setup.admit,
    onQuarantine: setup.onQuarantine,
    ann: {
      threshold: config.store.ann_threshold,
      connectivity: config.store.ann_connectivity,
      expansionAdd: config.store.ann_expansion_add,
      expansionSearch: config.store.ann_expansion_search,
    },
  });
  return {
    store,
    journal: store,
    journalDurable: true,
    recentTurnsBytes: 0,
    quarantined: () => store.quarantined,
    commitStats: () => store.commitStats,
    backup: (dir) => store.backup(dir),
    sealing: {
      state: () => store.encryption(),
      rekey: (keys, after, limit, opts) => store.rekey(keys, after, limit, opts),
    },
  };
}

function qdrantBackend(_setup: StoreSetup): StoreBackend {
  throw new Error('qdrant backend: not wired yet');
}

/** A ContextEngine over an embedded store in a temporary data dir, for unit tests (no daemon, no sockets). */
import type { Config } from '../../src/config/schema.ts';
import { ContextEngine } from '../../src/engine/context-engine.ts';
import { createTextAnalyzer, minRelevanceOf, spaceOf } from '../../src/engine/text/registry.ts';
import type { TextAnalyzer } from '../../src/engine/text/text-analyzer.ts';
import { BreakerRegistry } from '../../src/resilience/breaker.ts';
import type { AnnOptions } from '../../src/store/embedded/ann-graph.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';
import { removeDir, tempDataDir } from './daemon.ts';

export interface TestEngine {
  readonly engine: ContextEngine;
  readonly store: EmbeddedStore;
  readonly text: TextAnalyzer;
  close(): Promise<void>;
}

export async function openTestEngine(config: Config, ann: AnnOptions): Promise<TestEngine> {
  const text = await createTextAnalyzer({ config, secrets: { openaiApiKey: null }, breakers: new BreakerRegistry() });
  const dir = tempDataDir();
  const store = new EmbeddedStore({ dataDir: dir, space: spaceOf(config), durability: 'relaxed', ann });
  await store.open();
  const engine = new ContextEngine({ store, text, config, minRelevance: minRelevanceOf(config) });
  return {
    engine,
    store,
    text,
    async close() {
      await store.close();
      await text.close();
      removeDir(dir);
    },
  };
}

/**
 * An agent loop on ctxd: conversation turns go to L1 (working memory), session
 * notes to L2 (short-term, with a TTL), durable facts to L3; every prompt is
 * built from `retrieve` under a token budget.
 *
 *   npm run example:agent            (a daemon on CTXD_PORT, key from CTXD_DATA_DIR or ./data)
 */
import { CtxdClient, keyFromDataDir } from '../src/client/index.ts';

const port = Number(process.env.CTXD_PORT ?? 7411);
const key = process.env.CTXD_KEY_ID
  ? { kid: process.env.CTXD_KEY_ID, secret: process.env.CTXD_KEY_SECRET! }
  : keyFromDataDir(process.env.CTXD_DATA_DIR ?? './data');
if (!key) throw new Error('no key: start the daemon once (npm start) or set CTXD_KEY_ID/CTXD_KEY_SECRET');

const ctxd = await CtxdClient.connect({ port, kid: key.kid, secret: key.secret });
const session = `demo-${Date.now().toString(36)}`;
const PROMPT_BUDGET = 120; // tokens of context per prompt

// Durable knowledge the agent already has (L3), shared by every session of the tenant.
await ctxd.storeBatch([
    { text: 'The production database is PostgreSQL 16 on db-main; replicas are read-only.', level: 3, tags: ['infra'] },
    { text: 'Deploys happen through the release pipeline; never deploy on Fridays.', level: 3, tags: ['process'] },
    { text: 'The on-call rotation changes every Monday at 09:00 UTC.', level: 3, tags: ['process'] },
]);

const conversation = [
  'User: the checkout page is slow since this morning, can you look at the database?',
  'User: we deployed the new pricing service yesterday, could that be related?',
  'User: should we roll back the deploy today? it is Friday.',
];

for (const [turn, message] of conversation.entries()) {
  // Build the prompt: the most relevant context that fits the budget, from all levels.
  const r = await ctxd.retrieve({ query: message, session, max_tokens: PROMPT_BUDGET });
  // Then the turn becomes working memory: L1 keeps the last l1_max_items turns per session.
  await ctxd.store({ text: message, level: 1, session, agent: 'assistant' });
  const context = r.contexts.map((c) => `- [L${c.level} ${c.score.toFixed(2)}] ${c.text}`).join('\n');
  console.log(`--- prompt ${turn + 1} (${r.total_tokens}/${PROMPT_BUDGET} context tokens, set ${r.set_id}) ---`);
  console.log(`Context:\n${context}\n${message}\n`);

  // What the agent learned this turn is a session note (L2, expires in an hour).
  await ctxd.store({ text: `Note from turn ${turn + 1}: ${message.replace('User: ', 'user asked ')}`, level: 2, session, ttl_s: 3600 });
}

const stats = await ctxd.stats();
console.log(`done: session ${session}; tenant holds L1 ${stats.levels['1']}, L2 ${stats.levels['2']}, L3 ${stats.levels['3']}`);
await ctxd.close();

/**
 * The tools `ctxd mcp` offers an agent host, one per context op, each a thin
 * map from the tool's arguments to a protocol request (PROTOCOL.md §7). The
 * descriptions are written for a model to read: when to use the tool, and
 * what the levels mean.
 */
import { z } from 'zod';
import type { CtxdClient, OpAnswer, OpName, Request } from '../client/index.ts';
import { contextId, level as levelSchema, name, tags as tagsSchema } from '../protocol/ops/fields.ts';
import { getRequest, listRequest, retrieveRequest, storeRequest, updateRequest } from '../protocol/ops/requests.ts';

/**
 * A tool argument checked by the protocol's own schema fragment (one source
 * of truth with the server's validation), with a description for the model.
 */
function arg(schema: object, description?: string): z.ZodType {
  const field = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  return description === undefined ? field : field.describe(description);
}

const level = (description?: string) => arg(levelSchema, description);

/**
 * Metadata: a map of JSON values. Its own "__proto__" key is refused on the arguments as sent, as the daemon refuses
 * it (PROTOCOL.md §3.1): z.record drops that key while parsing, and the memory was stored without it, silently.
 */
const metadata = (description: string) =>
  z
    .preprocess((v, ctx) => {
      if (typeof v === 'object' && v !== null && Object.hasOwn(v, '__proto__')) ctx.addIssue({ code: 'custom', message: 'map key "__proto__" is not allowed' });
      return v;
    }, z.record(z.string(), z.unknown()))
    .optional()
    .describe(description);
const session = () => arg(name, 'Conversation or task the memory belongs to (L1/L2 are per session; L3 is shared by every session).');

export interface ToolSpec {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly input: z.ZodRawShape;
  /** Sends the tool's protocol request; `args` passed `input`, whose fields are the op's own schema fragments. */
  readonly call: (client: CtxdClient, args: Record<string, unknown>) => Promise<OpAnswer<OpName>>;
}

/** Drops undefined arguments: the protocol refuses explicit nulls for absent fields. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Arguments checked against the op's schema fragments, as that op's request. */
function as<O extends OpName>(_op: O, args: Record<string, unknown>): Request<O> {
  return defined(args) as Request<O>;
}

export const TOOLS: readonly ToolSpec[] = [
  {
    name: 'store_memory',
    title: 'Store a memory',
    description:
      'Remember a fact, preference, decision or observation for later. Write it as one self-contained sentence. ' +
      'level 3 (default): long-term, shared by every session; level 2: short-term, expires after a day; level 1: working memory of this session. ' +
      'Storing the same fact again refreshes it instead of duplicating it.',
    input: {
      text: arg(storeRequest.properties.text, 'The memory, in plain language.'),
      level: level('1 working memory, 2 short-term, 3 long-term (default 3).').optional(),
      session: session().optional(),
      tags: arg(tagsSchema, 'Labels to filter by later.').optional(),
      metadata: metadata('Structured fields (JSON values) to filter by later.'),
    },
    call: (c, a) => c.store(as('store', { text: a.text, level: a.level ?? 3, session: a.session, tags: a.tags, metadata: a.metadata })),
  },
  {
    name: 'retrieve_context',
    title: 'Retrieve relevant memories',
    description:
      'Find the memories most relevant to a question or task, by meaning (they need not share words with it) and by exact names and ids, ' +
      'ranked by relevance, recency, level and use, within a token budget. Call it before answering anything that may depend on what was learned earlier.',
    input: {
      query: arg(retrieveRequest.properties.query, 'What you need to know, in your own words.'),
      max_tokens: arg(retrieveRequest.properties.max_tokens, 'Token budget for the memories returned (default 2000).').optional(),
      session: session().optional(),
      levels: arg(retrieveRequest.properties.levels, 'Levels to search (default all).').optional(),
      tags_any: arg(tagsSchema, 'Only memories with at least one of these tags.').optional(),
    },
    call: (c, a) => c.retrieve(as('retrieve', { query: a.query, max_tokens: a.max_tokens, session: a.session, levels: a.levels, tags_any: a.tags_any })),
  },
  {
    name: 'get_memory',
    title: 'Get one memory',
    description: 'Read one memory by its id, with its level, tags, metadata and timestamps.',
    input: { id: arg(getRequest.properties.id, 'The id store_memory or retrieve_context returned.') },
    call: (c, a) => c.get(as('get', { id: a.id }).id),
  },
  {
    name: 'update_memory',
    title: 'Update a memory',
    description: 'Correct or extend a memory: replace its text, change its level, or merge tags and metadata. Give the id and only what changes.',
    input: {
      id: arg(contextId),
      text: arg(updateRequest.properties.text, 'The new text.').optional(),
      level: level().optional(),
      tags: arg(tagsSchema, 'Replaces the tags.').optional(),
      metadata: metadata('Merged into the metadata; a null value removes its key.'),
    },
    call: (c, a) => {
      const { id, ...changes } = as('update', { id: a.id, text: a.text, level: a.level, tags: a.tags, metadata: a.metadata });
      return c.update(id, changes);
    },
  },
  {
    name: 'delete_memory',
    title: 'Delete a memory',
    description: 'Forget one memory for good, by its id (for example when the user asks you to forget it, or it is wrong).',
    input: { id: arg(contextId) },
    call: (c, a) => c.delete(as('delete', { id: a.id }).id),
  },
  {
    name: 'list_session',
    title: 'List a session’s memories',
    description: 'List the memories of one session and level, oldest id first, a page at a time (pass the cursor returned to go on).',
    input: {
      session: session().optional(),
      level: level('Default: every level.').optional(),
      cursor: arg(listRequest.properties.cursor, 'The next_cursor of the previous page.').optional(),
      limit: arg(listRequest.properties.limit, 'Memories per page (default 100).').optional(),
    },
    call: (c, a) => c.listPage(as('list', { session: a.session, level: a.level, cursor: a.cursor, limit: a.limit })),
  },
  {
    name: 'memory_stats',
    title: 'Memory statistics',
    description: 'How many memories are held at each level, and how many sessions.',
    input: {},
    call: (c) => c.stats(),
  },
];

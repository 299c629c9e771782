/**
 * The tools `ctxd mcp` offers an agent host, one per context op, each a thin
 * map from the tool's arguments to a protocol request (PROTOCOL.md §7). The
 * descriptions are written for a model to read: when to use the tool, and
 * what the levels mean.
 */
import { z } from 'zod';

const level = z.union([z.literal(1), z.literal(2), z.literal(3)]);
const session = z.string().min(1).max(256).describe('Conversation or task the memory belongs to (L1/L2 are per session; L3 is shared by every session).');

export interface ToolSpec {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly input: z.ZodRawShape;
  /** The protocol op and its body for these arguments. */
  readonly request: (args: Record<string, unknown>) => { op: string; body: Record<string, unknown> };
}

/** Drops undefined arguments: the protocol refuses explicit nulls for absent fields. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
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
      text: z.string().min(1).describe('The memory, in plain language.'),
      level: level.optional().describe('1 working memory, 2 short-term, 3 long-term (default 3).'),
      session: session.optional(),
      tags: z.array(z.string().min(1).max(256)).max(64).optional().describe('Labels to filter by later.'),
      metadata: z.record(z.string(), z.unknown()).optional().describe('Structured fields (JSON values) to filter by later.'),
    },
    request: (a) => ({ op: 'store', body: defined({ text: a.text, level: a.level ?? 3, session: a.session, tags: a.tags, metadata: a.metadata }) }),
  },
  {
    name: 'retrieve_context',
    title: 'Retrieve relevant memories',
    description:
      'Find the memories most relevant to a question or task, by meaning (they need not share words with it) and by exact names and ids, ' +
      'ranked by relevance, recency, level and use, within a token budget. Call it before answering anything that may depend on what was learned earlier.',
    input: {
      query: z.string().min(1).max(32_768).describe('What you need to know, in your own words.'),
      max_tokens: z.number().int().min(1).max(200_000).optional().describe('Token budget for the memories returned (default 2000).'),
      session: session.optional(),
      levels: z.array(level).optional().describe('Levels to search (default all).'),
      tags_any: z.array(z.string()).optional().describe('Only memories with at least one of these tags.'),
    },
    request: (a) => ({ op: 'retrieve', body: defined({ query: a.query, max_tokens: a.max_tokens, session: a.session, levels: a.levels, tags_any: a.tags_any }) }),
  },
  {
    name: 'get_memory',
    title: 'Get one memory',
    description: 'Read one memory by its id, with its level, tags, metadata and timestamps.',
    input: { id: z.string().min(1).max(64).describe('The id store_memory or retrieve_context returned.') },
    request: (a) => ({ op: 'get', body: { id: a.id } }),
  },
  {
    name: 'update_memory',
    title: 'Update a memory',
    description: 'Correct or extend a memory: replace its text, change its level, or merge tags and metadata. Give the id and only what changes.',
    input: {
      id: z.string().min(1).max(64),
      text: z.string().min(1).optional().describe('The new text.'),
      level: level.optional(),
      tags: z.array(z.string().min(1).max(256)).max(64).optional().describe('Replaces the tags.'),
      metadata: z.record(z.string(), z.unknown()).optional().describe('Merged into the metadata; a null value removes its key.'),
    },
    request: (a) => ({ op: 'update', body: defined({ id: a.id, text: a.text, level: a.level, tags: a.tags, metadata: a.metadata }) }),
  },
  {
    name: 'delete_memory',
    title: 'Delete a memory',
    description: 'Forget one memory for good, by its id (for example when the user asks you to forget it, or it is wrong).',
    input: { id: z.string().min(1).max(64) },
    request: (a) => ({ op: 'delete', body: { id: a.id } }),
  },
  {
    name: 'list_session',
    title: 'List a session’s memories',
    description: 'List the memories of one session and level, oldest id first, a page at a time (pass the cursor returned to go on).',
    input: {
      session: session.optional(),
      level: level.optional().describe('Default: every level.'),
      cursor: z.string().optional(),
      limit: z.number().int().min(1).max(1000).optional(),
    },
    request: (a) => ({ op: 'list', body: defined({ session: a.session, level: a.level, cursor: a.cursor, limit: a.limit }) }),
  },
  {
    name: 'memory_stats',
    title: 'Memory statistics',
    description: 'How many memories are held at each level, and how many sessions.',
    input: {},
    request: () => ({ op: 'stats', body: {} }),
  },
];

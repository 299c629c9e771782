/**
 * `ctxd mcp` driven by the MCP SDK's own client over stdio, against a real
 * daemon: connected to one started as a separate process, and `--embedded`
 * with the exact configuration the README gives an MCP host. A fact stored
 * among 50 unrelated ones is retrieved by a paraphrase through the tool.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { OpAnswer, WireErrorAnswer } from '../../src/client/index.ts';
import { ctxd } from '../helpers/cli.ts';
import { CLI, REPO_ROOT, startDaemon, stopAll, tempDataDir } from '../helpers/daemon.ts';
import { UNRELATED_CONTEXTS } from '../fixtures/unrelated-contexts.ts';

afterAll(stopAll);
const AUTOMOBILE = 'My automobile needs new tires before the winter trip.';
const TOOLS = ['delete_memory', 'get_memory', 'list_session', 'memory_stats', 'retrieve_context', 'store_memory', 'update_memory'];

/** The README's MCP host configuration, with its placeholders filled in. */
function readmeServer(dataDir: string): { command: string; args: string[] } {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /```json\n(\{\n  "mcpServers"[\s\S]*?)```/.exec(readme)![1]!;
  const server = (JSON.parse(block) as { mcpServers: { ctxd: { command: string; args: string[] } } }).mcpServers.ctxd;
  const fill = (a: string) => a.replace('/path/to/ctxd/src/cli/main.ts', CLI).replace('/path/to/ctxd-data', dataDir);
  // `node` is the Node running this test (the one the README says to use).
  return { command: server.command === 'node' ? process.execPath : server.command, args: server.args.map(fill) };
}

async function mcpClient(command: string, args: string[], env: Record<string, string> = {}): Promise<{ client: Client; stderr: string[] }> {
  const transport = new StdioClientTransport({ command, args, cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stderr: 'pipe' });
  const stderr: string[] = [];
  transport.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const client = new Client({ name: 'ctxd-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr };
}

/** What each tool answers when it succeeds: its op's answer (src/mcp/tools.ts). */
interface ToolAnswers {
  store_memory: OpAnswer<'store'>;
  retrieve_context: OpAnswer<'retrieve'>;
  get_memory: OpAnswer<'get'>;
  update_memory: OpAnswer<'update'>;
  delete_memory: OpAnswer<'delete'>;
  list_session: OpAnswer<'list'>;
  memory_stats: OpAnswer<'stats'>;
}
type ToolResult<T> = { isError?: boolean; structuredContent?: T; content: Array<{ type: string; text?: string }> };
const call = async <N extends keyof ToolAnswers>(c: Client, name: N, args: Record<string, unknown> = {}) => (await c.callTool({ name, arguments: args })) as ToolResult<ToolAnswers[N]>;
/** A tool call the daemon refused: a tool error carrying the wire error (src/mcp/server.ts). */
const refusedCall = async (c: Client, name: keyof ToolAnswers, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as ToolResult<{ error: WireErrorAnswer }>;

async function rememberAndRecall(c: Client): Promise<void> {
  const { tools } = await c.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
  expect(tools.find((t) => t.name === 'retrieve_context')!.inputSchema.properties).toHaveProperty('query');
  for (const text of UNRELATED_CONTEXTS) expect((await call(c, 'store_memory', { text })).isError).toBeFalsy();
  const stored = await call(c, 'store_memory', { text: AUTOMOBILE, tags: ['car'] });
  expect(stored.structuredContent).toMatchObject({ level: 3, deduplicated: false });
  const found = await call(c, 'retrieve_context', { query: 'what does the vehicle need before the cold-season journey', max_tokens: 300 });
  expect(found.isError).toBeFalsy();
  expect(found.structuredContent!.contexts[0]!.text).toBe(AUTOMOBILE);
  expect((JSON.parse(found.content[0]!.text!) as OpAnswer<'retrieve'>).contexts[0]!.id).toBe(stored.structuredContent!.id);
  const id = stored.structuredContent!.id;
  expect((await call(c, 'update_memory', { id, text: 'My automobile got new winter tires in November.' })).structuredContent).toMatchObject({ id, version: 2 });
  expect((await call(c, 'get_memory', { id })).structuredContent!.text).toBe('My automobile got new winter tires in November.');
  expect((await call(c, 'memory_stats')).structuredContent!.total).toBe(51);
  expect((await call(c, 'delete_memory', { id })).isError).toBeFalsy();
  // A refused call is a tool error carrying the wire code.
  const missing = await refusedCall(c, 'get_memory', { id });
  expect(missing.isError).toBe(true);
  expect(missing.structuredContent!.error.code).toBe('NOT_FOUND');
  expect(missing.content[0]!.text).toMatch(/^NOT_FOUND: /);
  // Metadata with its own "__proto__" key (JSON.parse makes one) is refused, as the daemon refuses it, not stored without it.
  const target = (await call(c, 'store_memory', { text: 'The team meets on Tuesdays.' })).structuredContent!.id;
  for (const [name, args] of [['store_memory', { text: 'proto metadata' }], ['update_memory', { id: target }]] as const) {
    const proto = await refusedCall(c, name, { ...args, metadata: JSON.parse('{"__proto__": {"polluted": true}, "team": "a"}') });
    expect(proto.isError).toBe(true);
    expect(proto.content[0]!.text).toContain('map key "__proto__" is not allowed');
  }
  expect((await call(c, 'memory_stats')).structuredContent!.total).toBe(51);
  expect((await call(c, 'get_memory', { id: target })).structuredContent).toMatchObject({ version: 1, metadata: {} });
}

/** `ctxd mcp --embedded` with stdin held open, SIGTERM sent once stderr shows `when`: its exit code and what it logged. */
async function signalledEmbedded(when: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, 'mcp', '--embedded', '--data-dir', tempDataDir()], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!sent && stderr.includes(`"msg":"${when}"`)) {
      sent = true;
      proc.kill('SIGTERM');
    }
  });
  const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stderr };
}

describe('ctxd mcp', () => {
  it('--embedded ends gracefully on SIGTERM, served or still starting (a host stops its server so)', async () => {
    for (const when of ['listening', 'http listening']) {
      const r = await signalledEmbedded(when);
      expect({ when, code: r.code, signal: r.signal }).toEqual({ when, code: 0, signal: null });
      expect(r.stderr).toContain('"msg":"listening"');
      expect(r.stderr).toContain('"msg":"stopped"');
    }
  }, 60_000);

  it('connected to a running daemon: lists the tools, stores among 50 others, recalls by paraphrase', async () => {
    const d = await startDaemon({ env: { CTXD_EMBEDDER_KIND: 'local' } });
    const { client } = await mcpClient(process.execPath, [CLI, 'mcp', '--port', String(d.port), '--data-dir', d.dataDir]);
    try {
      await rememberAndRecall(client);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('--embedded, with the README configuration: the same, with no second process; a second one on the same dir is refused', async () => {
    const dataDir = tempDataDir();
    const { command, args } = readmeServer(dataDir);
    const { client, stderr } = await mcpClient(command, args);
    try {
      await rememberAndRecall(client);
      expect(stderr.join('')).toContain('"msg":"listening"');
      const second = await ctxd(args.slice(1));
      expect(second.code).toBe(1);
      // Its logs go to stderr too; the last line says why it stopped.
      expect(second.stderr.trim().split('\n').at(-1)).toMatch(/^ctxd mcp: data dir .* is in use by another ctxd \(pid \d+\)$/);
    } finally {
      await client.close();
    }
  }, 120_000);
});

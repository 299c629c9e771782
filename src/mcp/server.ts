/**
 * `ctxd mcp`: a Model Context Protocol server over stdio (the official SDK)
 * for agent hosts (Claude Desktop and Code, Cursor, VS Code, frameworks). It
 * is another front door, like the CLI: every tool call is a protocol request
 * through the client, to a running daemon or to one this process started
 * (`--embedded`). stdout is MCP's channel: nothing else may write to it.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CtxdError, type CtxdClient } from '../client/index.ts';
import { VERSION } from '../version.ts';
import { TOOLS } from './tools.ts';

/** A tool's answer: the protocol answer as JSON text, and as structured content. */
function answer(body: { [key: string]: unknown }): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
}

/** A refused request is a tool error carrying the wire code (PROTOCOL.md §6), not a protocol failure of MCP. */
function refusal(e: unknown): CallToolResult {
  if (e instanceof CtxdError) {
    const error = { code: e.code, message: e.message, retryable: e.retryable, ...(e.retryAfterMs !== undefined && { retry_after_ms: e.retryAfterMs }), ...(e.details !== undefined && { details: e.details }) };
    return { isError: true, content: [{ type: 'text', text: `${e.code}: ${e.message}` }], structuredContent: { error } };
  }
  return { isError: true, content: [{ type: 'text', text: `INTERNAL: ${(e as Error).message ?? String(e)}` }], structuredContent: { error: { code: 'INTERNAL', message: String(e) } } };
}

export function createMcpServer(client: CtxdClient): McpServer {
  const server = new McpServer({ name: 'ctxd', version: VERSION });
  for (const tool of TOOLS) {
    server.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.input }, async (args: Record<string, unknown>) => {
      try {
        return answer(await tool.call(client, args));
      } catch (e) {
        return refusal(e);
      }
    });
  }
  return server;
}

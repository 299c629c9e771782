/**
 * `ctxd mcp`: serves the Model Context Protocol on stdin/stdout for an agent
 * host (src/mcp/). It connects to a running daemon as the other commands do,
 * or with `--embedded` starts one in this process on a data dir (a second
 * embedded server on the same dir is refused by the data-dir lock). Logs go
 * to stderr: stdout belongs to MCP.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CtxdClient, keyFromDataDir } from '../../client/index.ts';
import { loadConfig } from '../../config/load.ts';
import { Daemon } from '../../daemon.ts';
import { createLogger } from '../../log.ts';
import { createMcpServer } from '../../mcp/server.ts';
import { CONNECTION_HELP, EXIT, connect, parse, reportError, showHelp, type Env } from '../common.ts';

export const help = `Usage: ctxd mcp [--embedded] [connection flags]

Serves the Model Context Protocol over stdin/stdout, for agent hosts (Claude
Desktop and Code, Cursor, VS Code). Tools: store_memory, retrieve_context,
get_memory, update_memory, delete_memory, list_session, memory_stats.

  --embedded           run the daemon inside this process on --data-dir (no second process);
                       (protocol and probes on free ports of 127.0.0.1)
  --config FILE        with --embedded: the daemon's configuration file
  --log-level LEVEL    with --embedded: the daemon's log level (logs go to stderr)

${CONNECTION_HELP}`;

export async function run(argv: string[], env: Env): Promise<number> {
  let daemon: Daemon | null = null;
  let client: CtxdClient | null = null;
  // A host ends its server with SIGTERM (or SIGINT) as well as by closing stdin: either ends the session the same
  // way, an embedded daemon shut down gracefully (in-flight requests drained, graphs saved). Installed before the
  // start, so a signal during it (a slow load) is not the default action that kills the process; it ends the
  // session once the start is over.
  let stopRequested = false;
  let requestStop = () => {
    stopRequested = true;
  };
  const onSignal = () => requestStop();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const { values, positionals } = parse(argv, { embedded: { type: 'boolean' }, config: { type: 'string' }, 'log-level': { type: 'string' } }, false);
    if (values.help) return showHelp(help);
    void positionals;
    if (values.embedded) {
      const dataDir = values['data-dir'] ?? env.CTXD_DATA_DIR ?? './data';
      const config = loadConfig({
        file: values.config ?? env.CTXD_CONFIG,
        env,
        flags: { data_dir: dataDir, 'server.host': '127.0.0.1', 'server.port': '0', 'http.host': '127.0.0.1', 'http.port': '0', ...(values['log-level'] && { 'log.level': values['log-level'] }) },
      });
      const apiKey = env[config.embedder.openai.api_key_env];
      const embedded = new Daemon({ config, log: createLogger(config.log.level, 'stderr'), secrets: { openaiApiKey: apiKey ? apiKey : null } });
      // A start that fails releases what it started itself; only a started daemon needs a shutdown.
      const { tcp } = await embedded.start();
      daemon = embedded;
      const key = keyFromDataDir(dataDir)!;
      client = await CtxdClient.connect({ host: '127.0.0.1', port: tcp.port, kid: key.kid, secret: key.secret, timeoutMs: 60_000 });
    } else {
      client = await connect(values, env);
    }
    if (stopRequested) return EXIT.ok;
    const server = createMcpServer(client);
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
      process.stdin.once('end', () => resolve());
      requestStop = () => resolve();
    });
    await server.connect(transport);
    await closed;
    await server.close();
    return EXIT.ok;
  } catch (e) {
    return reportError('mcp', e);
  } finally {
    await client?.close();
    await daemon?.shutdown();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

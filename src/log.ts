/** Structured JSON logs (pino). Callers never log secrets or context text. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Logs go to stdout, or to stderr where stdout is a protocol channel (`ctxd mcp`: MCP over stdio). */
export function createLogger(level: string, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    {
      level,
      base: { svc: 'ctxd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: destination === 'stderr' ? 2 : 1, sync: true }),
  );
}

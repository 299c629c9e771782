/**
 * `debug_hold` (PROTOCOL.md §7.10): registered only with `debug.enable_ops`.
 * Holds a request in flight until the gate opens (SIGUSR2 to the daemon) or
 * `ms` passes, so tests can observe a state (a drain, a shutdown) on purpose
 * instead of hoping a slow request is still running.
 */
import type { OpHandler } from '../dispatcher.ts';

const MAX_HOLD_MS = 600_000;

export class HoldGate {
  private readonly waiting = new Set<() => void>();

  get held(): number {
    return this.waiting.size;
  }

  hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  releaseAll(): void {
    for (const done of [...this.waiting]) done();
  }
}

export function debugHoldHandler(gate: HoldGate): OpHandler<{ ms?: number }> {
  return {
    op: 'debug_hold',
    role: 'admin',
    schema: { type: 'object', additionalProperties: false, properties: { ms: { type: 'integer', minimum: 1, maximum: MAX_HOLD_MS } } },
    async handle(body) {
      const started = Date.now();
      await gate.hold(body.ms ?? MAX_HOLD_MS);
      return { held_ms: Date.now() - started };
    },
  };
}

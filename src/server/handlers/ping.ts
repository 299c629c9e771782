/** `ping` (PROTOCOL.md §7.2): answers at once, synchronously, with an empty body. */
import type { OpHandler } from '../dispatcher.ts';

const EMPTY = Object.freeze({});

export function pingHandler(): OpHandler {
  return {
    op: 'ping',
    role: 'agent',
    schema: { type: 'object', additionalProperties: false, properties: {} },
    handle: () => EMPTY,
  };
}

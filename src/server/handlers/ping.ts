/** `ping` (PROTOCOL.md §7.2): answers at once, synchronously, with an empty body. */
import { opHandler } from '../dispatcher.ts';

const EMPTY = Object.freeze({});

export function pingHandler() {
  return opHandler('ping', { role: 'agent', handle: () => EMPTY });
}

/**
 * Term hashes of texts read at start-up (load-terms.ts), on another core
 * while the event loop's thread reads and indexes the rows. Each batch comes
 * as one string (the texts joined) and their lengths, and is
 * answered on `port`, in order, as one array of hashes and one of end offsets;
 * `signal[0]` counts the answers, so the loader can sleep on it.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { termHashes } from '../../domain/lexical.ts';

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };

port.on('message', (m: { ticket: number; joined: string; lengths: Uint32Array }) => {
  const each = new Array<Uint32Array>(m.lengths.length);
  for (let i = 0, at = 0; i < each.length; at += m.lengths[i]!, i++) each[i] = termHashes(m.joined.slice(at, at + m.lengths[i]!));
  const ends = new Uint32Array(each.length);
  let total = 0;
  each.forEach((h, i) => (ends[i] = total += h.length));
  const hashes = new Uint32Array(total);
  each.forEach((h, i) => hashes.set(h, ends[i]! - h.length));
  port.postMessage({ ticket: m.ticket, hashes, ends }, [hashes.buffer, ends.buffer]);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});

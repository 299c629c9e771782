/**
 * Term hashes of the rows read at start-up, computed on a worker thread
 * (terms.worker.ts) while this thread reads the next rows from SQLite and
 * indexes the previous ones: ~20 % of a load's CPU moved off the thread the
 * listener waits for. The load stays synchronous (no turn of the event loop,
 * so no background graph step runs in the middle of it): answers are taken
 * with receiveMessageOnPort, sleeping on a shared counter meanwhile.
 *
 * Only with a second core to use (a daemon pinned to one core hashes here).
 * Same function, same results: whatever goes wrong with the worker (it does
 * not start, dies, or answers nothing for WORKER_PATIENCE_MS), the rest is
 * hashed here, as before.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { lexicalTerms } from '../../domain/lexical.ts';
import { hash32 } from '../../domain/words.ts';

/** Longest wait for one answer before hashing here instead (the worker's start-up included). */
const WORKER_PATIENCE_MS = 10_000;
/** Sleep between looks at the port while waiting. */
const POLL_MS = 50;

/** termHashes(text) (domain/lexical.ts), filled by a plain loop: Uint32Array.from with a map function cost ~2 µs a row at load. */
export function hashTerms(text: string): Uint32Array {
  const terms = lexicalTerms(text);
  const out = new Uint32Array(terms.length);
  for (let i = 0; i < terms.length; i++) out[i] = hash32(terms[i]!);
  return out;
}

export class LoadTerms {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private answered = 0;
  private nextTicket = 0;
  /** Tickets posted and not yet taken, oldest first (answers come in this order). */
  private readonly posted: number[] = [];

  /** The worker is still to start (with the first texts submitted: a load whose rows all have their hashes stored needs none). */
  private useWorker: boolean;

  /** Without a second core to run on (availableParallelism honours CPU affinity: a pinned daemon has one), a worker would only add the cost of its messages. */
  constructor(useWorker = availableParallelism() > 1) {
    this.useWorker = useWorker;
  }

  private start(): void {
    this.useWorker = false;
    try {
      const { port1, port2 } = new MessageChannel();
      this.worker = new Worker(new URL('./terms.worker.ts', import.meta.url), { workerData: { port: port2, signal: this.signal }, transferList: [port2] });
      // Its failures show as missing answers (handled in take); an 'error' event must not become an uncaught exception.
      this.worker.on('error', () => {});
      this.worker.unref();
      this.port = port1;
    } catch {
      this.stopWorker();
    }
  }

  /** Hands `texts` to the worker; `take` with the ticket returns their hashes. */
  submit(texts: readonly string[]): number {
    if (this.useWorker) this.start();
    const ticket = this.nextTicket++;
    if (this.port) {
      try {
        // One string and the lengths: cloning a thousand strings one by one cost ~2 µs each.
        const lengths = Uint32Array.from(texts, (t) => t.length);
        this.port.postMessage({ ticket, joined: texts.join(''), lengths }, [lengths.buffer]);
        this.posted.push(ticket);
      } catch {
        this.stopWorker();
      }
    }
    return ticket;
  }

  /** The term hashes of the texts submitted under `ticket` (tickets are taken in the order submitted). */
  take(ticket: number, texts: readonly string[]): Uint32Array[] {
    if (this.port && this.posted[0] === ticket) {
      const answer = this.receive(ticket);
      if (answer) return answer;
    }
    return texts.map(hashTerms);
  }

  private receive(ticket: number): Uint32Array[] | null {
    const port = this.port!;
    const deadline = performance.now() + WORKER_PATIENCE_MS;
    for (;;) {
      const m = receiveMessageOnPort(port) as { message: { ticket: number; hashes: Uint32Array; ends: Uint32Array } } | undefined;
      if (m) {
        const { ticket: got, hashes, ends } = m.message;
        this.posted.shift();
        if (got !== ticket) break;
        const out = new Array<Uint32Array>(ends.length);
        // Views of one buffer per batch: no copy per row.
        for (let i = 0, start = 0; i < ends.length; start = ends[i]!, i++) out[i] = hashes.subarray(start, ends[i]!);
        return out;
      }
      const seen = Atomics.load(this.signal, 0);
      if (seen !== this.answered) {
        // Counted but not yet receivable: look again at once.
        this.answered = seen;
        continue;
      }
      if (performance.now() > deadline) break;
      Atomics.wait(this.signal, 0, seen, POLL_MS);
    }
    this.stopWorker();
    return null;
  }

  private stopWorker(): void {
    this.posted.length = 0;
    this.port?.close();
    this.port = null;
    void this.worker?.terminate();
    this.worker = null;
  }

  close(): void {
    this.stopWorker();
  }
}

/**
 * Turns of the event loop for long work done in slices (a scan of a tenant, a big batch's dedup searches): one
 * slice per turn across every request, in the order they asked, with I/O polled between.
 *
 * A setImmediate per slice is not enough: every slice queued runs in the same check phase, so 20 parallel scans of
 * 5 ms slices held every other answer ~100 ms a turn (bench: ping while 20 clients ask for stats at 100,000).
 */
const waiting: Array<() => void> = [];

function releaseOne(): void {
  waiting.shift()?.();
  if (waiting.length > 0) setImmediate(releaseOne);
}

/** Resolves in a later turn of the event loop, after every slice that asked before it. */
export function nextSlice(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (waiting.length === 1) setImmediate(releaseOne);
  });
}

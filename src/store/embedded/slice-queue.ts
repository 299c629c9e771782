/**
 * Turns of the event loop for long work done in slices (a scan of a tenant, a big batch's dedup searches): one
 * slice per turn across every request, with I/O polled between, tenants served in rotation and each tenant's slices
 * in the order they asked.
 *
 * A setImmediate per slice is not enough: every slice queued runs in the same check phase, so 20 parallel scans of
 * 5 ms slices held every other answer ~100 ms a turn (bench: ping while 20 clients ask for stats at 100,000). And a
 * single queue would let a tenant with many scans in flight take most of the turns from one with a single scan.
 */

/** Waiting slices by tenant, in rotation order (a Map iterates in insertion order; a served tenant goes last). */
const waiting = new Map<string, Array<() => void>>();
let scheduled = false;

function releaseOne(): void {
  scheduled = false;
  const next = waiting.entries().next();
  if (next.done) return;
  const [tenant, slices] = next.value;
  const resolve = slices.shift()!;
  waiting.delete(tenant);
  if (slices.length > 0) waiting.set(tenant, slices);
  resolve();
  if (waiting.size > 0) schedule();
}

function schedule(): void {
  scheduled = true;
  setImmediate(releaseOne);
}

/** Resolves in a later turn of the event loop: after `tenant`'s slices that asked before, others' in rotation. */
export function nextSlice(tenant: string): Promise<void> {
  return new Promise((resolve) => {
    const slices = waiting.get(tenant);
    if (slices) slices.push(resolve);
    else waiting.set(tenant, [resolve]);
    if (!scheduled) schedule();
  });
}

/**
 * Preloaded into a daemon by bench/stall.ts (`node --import ./bench/lib/loop-probe.ts ...`):
 * measures the daemon's own event-loop delay with perf_hooks monitorEventLoopDelay
 * (1 ms resolution), and its garbage collections (PerformanceObserver 'gc'), and answers
 * the parent over the IPC channel: 'loop?' gets both since the last 'loop?' (or start), then resets them. Without an IPC channel it does nothing.
 */
import { PerformanceObserver, constants, monitorEventLoopDelay, type PerformanceEntry } from 'node:perf_hooks';

if (process.send) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // Garbage collections of the main thread, so a stall can be told apart from our own code: the longest, and what kind.
  let gc = { max_ms: 0, kind: '', over_20ms: 0 };
  const kinds: Record<number, string> = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      if (e.duration > 20) gc.over_20ms++;
      if (e.duration > gc.max_ms) gc = { ...gc, max_ms: e.duration, kind: kinds[e.detail?.kind ?? -1] ?? String(e.detail?.kind) };
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (m) => {
    if (m !== 'loop?') return;
    const ms = (ns: number) => ns / 1e6;
    process.send!({ loop: { max_ms: ms(h.max), p99_ms: ms(h.percentile(99)), p999_ms: ms(h.percentile(99.9)), mean_ms: ms(h.mean), count: h.count, gc } });
    h.reset();
    gc = { max_ms: 0, kind: '', over_20ms: 0 };
  });
  // The channel must not keep the daemon alive, nor change how it stops.
  process.channel?.unref();
}

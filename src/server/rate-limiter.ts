/**
 * Per-key token buckets: `ratePerSec` requests a second on average, bursts of
 * up to `burst`. A refused request learns when the next token is due
 * (RATE_LIMITED with retry_after_ms, PROTOCOL.md §6).
 */
interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class RateLimiter {
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(ratePerSec: number, burst: number) {
    this.ratePerMs = ratePerSec / 1000;
    this.burst = Math.max(1, burst);
  }

  /** 0 when the request may go ahead, else the ms until it could. */
  take(kid: string, now: number): number {
    let b = this.buckets.get(kid);
    if (!b) this.buckets.set(kid, (b = { tokens: this.burst, updatedAt: now }));
    b.tokens = Math.min(this.burst, b.tokens + (now - b.updatedAt) * this.ratePerMs);
    b.updatedAt = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.ratePerMs);
  }
}

/**
 * Per-tenant quotas on contexts and text bytes (PROTOCOL.md §7.4,
 * QUOTA_EXCEEDED). Off unless configured. A store is refused when the tenant's
 * usage, plus what concurrent stores have reserved, plus everything the request
 * could add (every item counted as new: a duplicate that would only refresh
 * still needs the room) would pass a quota. The reservation is held until the
 * request's writes have committed, when the store's own usage reflects them.
 */
import type { Config } from '../config/schema.ts';
import { QuotaExceededError } from '../domain/errors.ts';

export interface TenantUsage {
  readonly contexts: number;
  readonly textBytes: number;
}

interface Limits {
  readonly contexts: number;
  readonly textBytes: number;
}

export class QuotaGuard {
  private readonly config: Config['quotas'];
  private readonly usage: (tenant: string) => TenantUsage;
  private readonly reserved = new Map<string, { contexts: number; textBytes: number }>();

  constructor(config: Config['quotas'], usage: (tenant: string) => TenantUsage) {
    this.config = config;
    this.usage = usage;
  }

  private limitsOf(tenant: string): Limits {
    const own = this.config.tenants[tenant];
    return { contexts: own?.max_contexts ?? this.config.max_contexts, textBytes: own?.max_text_bytes ?? this.config.max_text_bytes };
  }

  /**
   * The highest share of its quota any of `tenants` uses, per quota (0 when no
   * tenant has one): what an alert on a tenant nearing its quota watches,
   * without a series per tenant.
   */
  highWater(tenants: readonly string[]): { contexts: number; textBytes: number } {
    const high = { contexts: 0, textBytes: 0 };
    for (const tenant of tenants) {
      const limits = this.limitsOf(tenant);
      const used = this.usage(tenant);
      if (limits.contexts > 0) high.contexts = Math.max(high.contexts, used.contexts / limits.contexts);
      if (limits.textBytes > 0) high.textBytes = Math.max(high.textBytes, used.textBytes / limits.textBytes);
    }
    return high;
  }

  /** Reserves room for `contexts` new contexts of `textBytes`; throws QuotaExceededError. Returns the release. */
  reserve(tenant: string, contexts: number, textBytes: number): () => void {
    const limits = this.limitsOf(tenant);
    if (limits.contexts === 0 && limits.textBytes === 0) return () => {};
    const used = this.usage(tenant);
    const held = this.reserved.get(tenant) ?? { contexts: 0, textBytes: 0 };
    const wouldContexts = used.contexts + held.contexts + contexts;
    if (limits.contexts > 0 && wouldContexts > limits.contexts) throw new QuotaExceededError('max_contexts', limits.contexts, wouldContexts);
    const wouldBytes = used.textBytes + held.textBytes + textBytes;
    if (limits.textBytes > 0 && wouldBytes > limits.textBytes) throw new QuotaExceededError('max_text_bytes', limits.textBytes, wouldBytes);
    held.contexts += contexts;
    held.textBytes += textBytes;
    this.reserved.set(tenant, held);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.contexts -= contexts;
      held.textBytes -= textBytes;
      if (held.contexts === 0 && held.textBytes === 0 && this.reserved.get(tenant) === held) this.reserved.delete(tenant);
    };
  }
}

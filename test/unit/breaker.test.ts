import { afterEach, describe, expect, it } from 'vitest';
import {
  Breaker,
  BreakerOpenError,
  BreakerRegistry,
  BreakerShutdownError,
  type BreakerOptions,
  type BreakerState,
} from '../../src/resilience/breaker.ts';

const breakers: Breaker[] = [];

function make(over: Partial<BreakerOptions> = {}): Breaker {
  const b = new Breaker({
    name: 'dep',
    timeoutMs: false,
    errorThresholdPercentage: 50,
    volumeThreshold: 4,
    resetTimeoutMs: 60_000,
    rollingCountTimeoutMs: 60_000,
    ...over,
  });
  breakers.push(b);
  return b;
}

/** Resolves when `b` next enters `state` (subscribe before the transition can happen). */
function nextState(b: Breaker, state: BreakerState): Promise<void> {
  return new Promise((resolve) => {
    const off = b.onTransition((s) => {
      if (s === state) {
        off();
        resolve();
      }
    });
  });
}

const fail = (msg = 'boom') => () => Promise.reject(new Error(msg));
const ok = <T>(v: T) => () => Promise.resolve(v);

async function failTimes(b: Breaker, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await expect(b.run(fail())).rejects.toThrow('boom');
}

afterEach(() => {
  for (const b of breakers.splice(0)) b.shutdown();
});

describe('Breaker', () => {
  it('passes results and errors through while closed', async () => {
    const b = make();
    await expect(b.run(ok(42))).resolves.toBe(42);
    await expect(b.run(fail('nope'))).rejects.toThrow('nope');
    expect(b.state).toBe('closed');
    expect(b.stats).toMatchObject({ successes: 1, failures: 1, rejections: 0 });
    expect(b.retryAfterMs()).toBe(1);
  });

  it('stays closed below the volume threshold, opens once past it and over the error percentage', async () => {
    const b = make({ volumeThreshold: 4 });
    await failTimes(b, 3);
    expect(b.state).toBe('closed');
    await failTimes(b, 1);
    expect(b.state).toBe('open');
    expect(b.stats.failures).toBe(4);
    expect(b.stats.transitions).toEqual({ open: 1, half_open: 0, closed: 0 });
  });

  it('does not open while the failure percentage stays at or below the threshold', async () => {
    const b = make({ volumeThreshold: 2, errorThresholdPercentage: 50 });
    for (let i = 0; i < 5; i++) {
      await b.run(ok(i));
      await expect(b.run(fail())).rejects.toThrow();
    }
    expect(b.state).toBe('closed'); // 50 % is not above 50 %
  });

  it('rejects with BreakerOpenError without calling fn while open', async () => {
    const b = make({ name: 'embedder', volumeThreshold: 1, resetTimeoutMs: 60_000 });
    await failTimes(b, 1);
    expect(b.state).toBe('open');
    let called = 0;
    const err = await b
      .run(async () => {
        called++;
        return 1;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(0);
    expect(err).toBeInstanceOf(BreakerOpenError);
    const open = err as BreakerOpenError;
    expect(open.dependency).toBe('embedder');
    expect(open.retryAfterMs).toBeGreaterThan(0);
    expect(open.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(open.message).toContain('embedder');
    expect(b.retryAfterMs()).toBeGreaterThan(50_000); // most of the reset timeout is left
    expect(b.stats.rejections).toBe(1);
  });

  it('half-opens after the reset timeout, lets one trial through and closes when it succeeds', async () => {
    const b = make({ volumeThreshold: 1, resetTimeoutMs: 50 });
    const halfOpen = nextState(b, 'half_open');
    await failTimes(b, 1);
    expect(b.state).toBe('open');
    await halfOpen;
    expect(b.state).toBe('half_open');

    // The trial is in flight: other calls are still rejected, without running.
    let release!: (v: string) => void;
    const trial = b.run(() => new Promise<string>((r) => (release = r)));
    let called = false;
    await expect(
      b.run(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(BreakerOpenError);
    expect(called).toBe(false);
    expect(b.retryAfterMs()).toBeGreaterThanOrEqual(1);

    release('fine');
    await expect(trial).resolves.toBe('fine');
    expect(b.state).toBe('closed');
    await expect(b.run(ok(1))).resolves.toBe(1);
    expect(b.stats.transitions).toEqual({ open: 1, half_open: 1, closed: 1 });
  });

  it('re-opens when the trial fails, and half-opens again later', async () => {
    const b = make({ volumeThreshold: 1, resetTimeoutMs: 50 });
    let halfOpen = nextState(b, 'half_open');
    await failTimes(b, 1);
    await halfOpen;
    halfOpen = nextState(b, 'half_open');
    await failTimes(b, 1);
    expect(b.state).toBe('open');
    expect(b.stats.transitions.open).toBe(2);
    await halfOpen;
    await b.run(ok(1));
    expect(b.state).toBe('closed');
    expect(b.stats.transitions).toEqual({ open: 2, half_open: 2, closed: 1 });
  });

  it('does not count errors isFailure rejects, but still throws them', async () => {
    class NotMine extends Error {}
    // A 5 % threshold: any counted failure among these calls would open it.
    const b = make({ volumeThreshold: 1, errorThresholdPercentage: 5, isFailure: (e) => !(e instanceof NotMine) });
    for (let i = 0; i < 10; i++) {
      await expect(b.run(() => Promise.reject(new NotMine('429')))).rejects.toBeInstanceOf(NotMine);
    }
    expect(b.state).toBe('closed');
    expect(b.stats).toMatchObject({ failures: 0, ignoredErrors: 10 });
    await failTimes(b, 1); // 1 failure in 11 calls: 9 % > 5 %
    expect(b.state).toBe('open');
  });

  it('takes a per-call isFailure over the breaker-wide one', async () => {
    const b = make({ volumeThreshold: 1 });
    const ignore = { isFailure: () => false };
    for (let i = 0; i < 5; i++) await expect(b.run(fail(), ignore)).rejects.toThrow('boom');
    expect(b.state).toBe('closed');
    expect(b.stats.ignoredErrors).toBe(5);
  });

  it('counts a throwing isFailure as a failure', async () => {
    const b = make({
      volumeThreshold: 1,
      isFailure: () => {
        throw new Error('bad classifier');
      },
    });
    await failTimes(b, 1);
    expect(b.state).toBe('open');
  });

  it('notifies transition listeners and survives a throwing one', async () => {
    const b = make({ volumeThreshold: 1 });
    const seen: BreakerState[] = [];
    b.onTransition(() => {
      throw new Error('listener bug');
    });
    const off = b.onTransition((s) => seen.push(s));
    await failTimes(b, 1);
    off();
    expect(seen).toEqual(['open']);
    expect(b.state).toBe('open');
  });

  it('rejects every call after shutdown', async () => {
    const b = make();
    b.shutdown();
    let called = false;
    await expect(
      b.run(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(BreakerShutdownError);
    expect(called).toBe(false);
    expect(b.state).toBe('open');
  });
});

describe('BreakerRegistry', () => {
  it('lists breakers in registration order and refuses duplicate names', () => {
    const reg = new BreakerRegistry();
    const a = make({ name: 'embedder' });
    const q = make({ name: 'qdrant' });
    reg.add(a);
    reg.add(q);
    expect(reg.all().map((b) => b.name)).toEqual(['embedder', 'qdrant']);
    expect(() => reg.add(make({ name: 'embedder' }))).toThrow(/already registered/);
  });
});

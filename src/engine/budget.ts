/**
 * Splits a token budget across levels. Each level is first given its share
 * and takes its best candidates (in score order) that fit. Budget a level
 * cannot use is handed to the levels that still have candidates, in
 * proportion to their shares, round after round, until the budget is spent or
 * no candidate can take it. Invariant: the tokens taken never exceed the budget.
 */
export interface LevelCandidates {
  readonly level: number;
  readonly share: number;
  /** Token counts, best-scored first. */
  readonly tokens: readonly number[];
}

export interface LevelAllocation {
  readonly level: number;
  /** Budget this level ended up with (its share, plus what it was handed, minus what it handed on). */
  allocated: number;
  used: number;
  /** Indexes into `tokens` that were taken. */
  readonly taken: number[];
  readonly candidates: number;
  /** Candidates that did not fit. */
  omitted: number;
}

interface State {
  readonly c: LevelCandidates;
  readonly a: LevelAllocation;
  readonly takenSet: Set<number>;
}

function fill(s: State): boolean {
  let took = false;
  for (let i = 0; i < s.c.tokens.length; i++) {
    if (s.takenSet.has(i)) continue;
    const t = s.c.tokens[i]!;
    if (t <= s.a.allocated - s.a.used) {
      s.takenSet.add(i);
      s.a.taken.push(i);
      s.a.used += t;
      took = true;
    }
  }
  return took;
}

/** The smallest untaken candidate, or Infinity: what a level needs to take anything more. */
function smallestUntaken(s: State): number {
  let min = Infinity;
  for (let i = 0; i < s.c.tokens.length; i++) if (!s.takenSet.has(i) && s.c.tokens[i]! < min) min = s.c.tokens[i]!;
  return min;
}

/** Splits `amount` over `states` by share (equally if all shares are 0); the rounding remainder goes to the first. */
function split(amount: number, states: State[]): number[] {
  const total = states.reduce((s, x) => s + x.c.share, 0);
  const parts = states.map((x) => Math.floor(total > 0 ? (amount * x.c.share) / total : amount / states.length));
  parts[0]! += amount - parts.reduce((a, b) => a + b, 0);
  return parts;
}

export function allocateBudget(maxTokens: number, levels: readonly LevelCandidates[]): LevelAllocation[] {
  const states: State[] = levels.map((c) => ({
    c,
    a: { level: c.level, allocated: 0, used: 0, taken: [], candidates: c.tokens.length, omitted: 0 },
    takenSet: new Set<number>(),
  }));
  if (states.length === 0) return [];
  split(maxTokens, states).forEach((amount, i) => (states[i]!.a.allocated = amount));
  for (const s of states) fill(s);

  // Every round takes at least one candidate or stops, so this bound is never the reason to stop.
  const maxRounds = levels.reduce((n, l) => n + l.tokens.length, 1);
  for (let round = 0; round < maxRounds; round++) {
    const hungry = states.filter((s) => smallestUntaken(s) !== Infinity);
    if (hungry.length === 0) break;
    // Levels with nothing left to take hand on everything unused; hungry levels keep theirs.
    let spare = 0;
    for (const s of states) {
      if (hungry.includes(s)) continue;
      spare += s.a.allocated - s.a.used;
      s.a.allocated = s.a.used;
    }
    // A hungry level whose remaining budget fits none of its candidates also hands it on.
    for (const s of hungry) {
      const free = s.a.allocated - s.a.used;
      if (free < smallestUntaken(s)) {
        spare += free;
        s.a.allocated = s.a.used;
      }
    }
    if (spare === 0) break;
    const gains = split(spare, hungry);
    hungry.forEach((s, i) => (s.a.allocated += gains[i]!));
    let progress = false;
    for (const s of hungry) progress = fill(s) || progress;
    if (!progress) {
      // The proportional split fits nobody: give all unused budget to the hungry level whose best
      // remaining candidate fits it whole, if any; otherwise nothing more can be taken.
      const pool = hungry.reduce((sum, s) => sum + (s.a.allocated - s.a.used), 0);
      const taker = hungry.find((s) => smallestUntaken(s) <= pool);
      if (!taker) break;
      for (const s of hungry) s.a.allocated = s.a.used;
      taker.a.allocated += pool;
      if (!fill(taker)) break;
    }
  }
  for (const s of states) s.a.omitted = s.c.tokens.length - s.a.taken.length;
  return states.map((s) => s.a);
}

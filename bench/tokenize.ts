/**
 * Token counting: gpt-tokenizer's exact `countTokens` (what ctxd used before) against ctxd's
 * counter (src/engine/text/tokenizer.ts: exact per pre-tokenisation piece up to MAX_EXACT_PIECE,
 * UTF-8 bytes above), side by side in one process, and bench/tokenize.md written from the run.
 *
 *   node bench/tokenize.ts              medians of 7 runs; the old counter skips the 256 KiB runs
 *   node bench/tokenize.ts --full       the old counter also on the 256 KiB runs (1 run each; minutes)
 *   node bench/tokenize.ts --quick      3 runs, printed only, bench/tokenize.md untouched
 *   node bench/tokenize.ts --encoding=cl100k_base
 *
 * Every timed call starts with gpt-tokenizer's merge cache cleared (both counters share it), so a
 * figure is the cost of a text not seen before, which is what an attacker sends; ordinary texts
 * count faster in the daemon, where common words are cached.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';
import { loadTokenCounter, MAX_EXACT_PIECE, type TokenizerName } from '../src/engine/text/tokenizer.ts';
import { fmt, median, table } from './lib/report.ts';
import { seededRandom } from '../test/helpers/records.ts';

const ROOT = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const FULL = argv.includes('--full');
const QUICK = argv.includes('--quick');
const RUNS = QUICK ? 3 : 7;
const ENCODING = (argv.find((a) => a.startsWith('--encoding='))?.slice(11) ?? 'o200k_base') as TokenizerName;
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

const mod = ENCODING === 'o200k_base' ? o200k : cl100k;
// The old counter: what src/engine/text/tokenizer.ts called before (special-token check off, so
// texts that contain "<|endoftext|>" count rather than throw; none of these do).
const ORDINARY = { disallowedSpecial: new Set<string>() };
const oldCount = (text: string) => mod.countTokens(text, ORDINARY);
const newCount = await loadTokenCounter(ENCODING);

const KiB = 1024;
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

const rng = seededRandom;

/** The first `size` UTF-8 bytes' worth of the text (whole code points), repeating it if short. */
function toBytes(source: string, size: number): string {
  let s = source;
  while (bytes(s) < size) s += '\n\n' + source;
  const cps = [...s];
  let out = '';
  let n = 0;
  for (const cp of cps) {
    const b = bytes(cp);
    if (n + b > size) break;
    out += cp;
    n += b;
  }
  return out;
}

// Real prose: the project's own documentation (English with markdown, commands and tables).
const prose = ['README.md', 'protocol/PROTOCOL.md', 'bench/profiling.md'].map((f) => readFileSync(join(ROOT, f), 'utf8')).join('\n\n');
const r = rng(42);
/** A run of random emoji (4 UTF-8 bytes each) with no space: one pre-tokenisation piece. */
const emojiRun = (size: number) => Array.from({ length: size / 4 }, () => String.fromCodePoint(0x1f300 + Math.floor(r() * 700))).join('');
/** The worst case for the new counter: every piece exactly MAX_EXACT_PIECE units of 3-byte CJK. */
function worstPieces(size: number): string {
  let s = '';
  while (bytes(s) < size) {
    s += '。'; // the prefix character of the next piece
    for (let i = 0; i < MAX_EXACT_PIECE - 1; i++) s += String.fromCharCode(0x4e00 + Math.floor(r() * 20_000));
  }
  return toBytes(s, size);
}

interface Case {
  readonly name: string;
  readonly text: string;
  /** The old counter is not run (it would take more than a few seconds), unless --full. */
  readonly oldTooSlow?: string;
}

const cases: Case[] = [
  { name: 'prose 2 KiB', text: toBytes(prose, 2 * KiB) },
  { name: 'prose 16 KiB', text: toBytes(prose, 16 * KiB) },
  { name: 'prose 256 KiB', text: toBytes(prose, 256 * KiB) },
  { name: 'emoji run 1 KiB', text: emojiRun(1 * KiB) },
  { name: 'emoji run 16 KiB', text: emojiRun(16 * KiB) },
  { name: 'emoji run 256 KiB', text: emojiRun(256 * KiB), oldTooSlow: '17–20 s measured when the defect was filed' },
  { name: 'one-letter run 1 KiB', text: 'a'.repeat(1 * KiB) },
  { name: 'one-letter run 16 KiB', text: 'a'.repeat(16 * KiB) },
  { name: 'one-letter run 256 KiB', text: 'a'.repeat(256 * KiB), oldTooSlow: 'quadratic: ~0.2 s at 20 KB, so tens of seconds' },
  { name: `CJK pieces of ${MAX_EXACT_PIECE} chars, 256 KiB (new counter's worst case)`, text: worstPieces(256 * KiB) },
];

function time(count: (text: string) => number, text: string): { ms: number; tokens: number } {
  mod.clearMergeCache();
  const t0 = performance.now();
  const tokens = count(text);
  return { ms: performance.now() - t0, tokens };
}

const rows: Array<Array<string | number>> = [];
for (const c of cases) {
  const runOld = !c.oldTooSlow || FULL;
  const oldRuns = c.oldTooSlow ? 1 : RUNS;
  log(`${c.name}: ${runOld ? `${oldRuns} × old, ` : ''}${RUNS} × new`);
  // One untimed call each first (JIT), then the timed runs interleaved.
  newCount(c.text);
  if (runOld && !c.oldTooSlow) oldCount(c.text);
  const oldMs: number[] = [];
  const newMs: number[] = [];
  let oldTokens = NaN;
  let newTokens = NaN;
  for (let i = 0; i < RUNS; i++) {
    if (runOld && i < oldRuns) {
      const o = time(oldCount, c.text);
      oldMs.push(o.ms);
      oldTokens = o.tokens;
    }
    const n = time(newCount, c.text);
    newMs.push(n.ms);
    newTokens = n.tokens;
  }
  if (runOld && newTokens < oldTokens) throw new Error(`${c.name}: new count ${newTokens} < exact ${oldTokens}`);
  const oldMed = runOld ? median(oldMs) : NaN;
  const newMed = median(newMs);
  rows.push([
    c.name,
    fmt(bytes(c.text) / KiB, 1),
    runOld ? `${fmt(oldMed)}${oldRuns === 1 ? ' (1 run)' : ''}` : `not run (${c.oldTooSlow})`,
    fmt(newMed),
    runOld ? `${fmt(oldMed / newMed, 1)}×` : 'n/a',
    runOld ? fmt(oldTokens, 0) : 'n/a',
    fmt(newTokens, 0),
    runOld ? (newTokens === oldTokens ? 'exact' : `+${fmt((newTokens / oldTokens - 1) * 100, 0)} %`) : 'n/a',
  ]);
}

const cpu = cpus();
const report = `# Token counting: exact \`countTokens\` vs ctxd's counter

Written by \`node bench/tokenize.ts${argv.length ? ' ' + argv.join(' ') : ''}\` on ${new Date().toISOString()}.
Machine: ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${fmt(totalmem() / 2 ** 30, 0)} GiB, Node ${process.version}; encoding ${ENCODING}.
These machines are shared and noisy: read ratios and medians, not single figures.

"old" is gpt-tokenizer's exact \`countTokens\`; "new" is \`loadTokenCounter\` (src/engine/text/tokenizer.ts):
exact per pre-tokenisation piece of at most ${MAX_EXACT_PIECE} UTF-16 units, the piece's UTF-8 bytes
above that (an upper bound). Milliseconds per text, medians of ${RUNS} runs (1 run where marked), each
with gpt-tokenizer's merge cache cleared first (a text not seen before). Sizes are UTF-8 bytes.

${table(['text', 'KiB', 'old ms', 'new ms', 'old/new', 'exact tokens', 'new tokens', 'new vs exact'], rows)}
`;
process.stdout.write(report);
if (!QUICK) {
  writeFileSync(join(ROOT, 'bench', 'tokenize.md'), report);
  log('wrote bench/tokenize.md');
}

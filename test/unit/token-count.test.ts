/**
 * The token counter against gpt-tokenizer's own exact count: equal on ordinary text, never lower on
 * pathological text, and linear (a 256 KiB run is counted, as its bytes). Speed is measured in
 * bench/tokenize.ts, not asserted here.
 */
import fc from 'fast-check';
import { countTokens as cl100kExact } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200kExact } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { loadTokenCounter, MAX_EXACT_PIECE, type TokenizerName } from '../../src/engine/text/tokenizer.ts';
import { seededRandom } from '../helpers/records.ts';

/** Special-token text counted as ordinary text, which is what the counter does. */
const ORDINARY = { disallowedSpecial: new Set<string>() };
const EXACT: Record<TokenizerName, (text: string) => number> = {
  o200k_base: (text) => o200kExact(text, ORDINARY),
  cl100k_base: (text) => cl100kExact(text, ORDINARY),
};
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

const rng = seededRandom;
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

// Short fragments of ordinary text of many kinds; a text is fragments joined by separators that all
// contain whitespace, so no pre-tokenisation piece comes near MAX_EXACT_PIECE.
const FRAGMENTS = [
  // English prose
  'The', 'quick', 'brown', 'fox', "doesn't", "it's", "WE'LL", "they're", 'jumps', 'over', 'the lazy dog.', 'However,',
  'internationalization', 'Supercalifragilistic', 'e.g.', '(see below)', '"quoted"', '— an em dash', '…',
  // code
  'const x = foo(bar, baz);', 'if (a !== b) { return null; }', 'snake_case_name', 'camelCaseIdentifier',
  'SCREAMING_SNAKE', 'kebab-case-name', '=>', '===', '#include <stdio.h>', 'def f(x):', '    return x ** 2',
  '// comment', '/* block */', 'x[i]++', '0x7fffffff', '&&', '||', '::', '@decorator', '$var', '`template ${x}`',
  // JSON
  '{"key": "value", "n": 42, "ok": true}', '[1, 2.5, -3e10, null]', '{"nested": {"a": []}}',
  // URLs and paths
  'https://example.com/path/to/page?query=1&b=two#frag', 'http://localhost:7411/health/ready', '/usr/local/bin/node',
  'C:\\Windows\\System32', 'user@example.org', 'git@github.com:owner/repo.git',
  // numbers and hashes
  '1234567890', '3.14159', '-0.001', '1,000,000', '2024-05-01T12:34:56Z', '192.168.0.1', '+1 (555) 010-9999',
  'd41d8cd98f00b204e9800998ecf8427e', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  'SGVsbG8sIFdvcmxkIQ==', 'dGhlIHF1aWNrIGJyb3duIGZveA+/', 'v1.2.3-beta.4',
  // other scripts
  'naïve café', 'déjà vu', 'Ünïcödé', 'Straße', 'Привет, мир', 'Γειά σου Κόσμε', 'שלום עולם', 'مرحبا بالعالم',
  'नमस्ते दुनिया', 'สวัสดีชาวโลก', 'こんにちは世界', '日本語のテキストです。', '中文测试，你好世界。', '漢字', '한국어 텍스트',
  'e\u0301', 'a\u0308\u0301', '\u200b', '\u00a0', '\ufeff',
  // emoji in prose
  '😀', '🎉🎉', 'great 👍🏽', '👩‍👩‍👧', '‼️', '🇯🇵', 'I ❤️ it', '1️⃣',
  // special-token text
  '<|endoftext|>', '<|fim_prefix|>', '<|im_start|>user', '<|endofprompt|>', '<|im_end|>',
  // odd code units
  '\ud800', '\udc00', 'x\ud83dy', '\u0000', '\u007f', '\u0085',
];
const SEPARATORS = [' ', ' ', ' ', '  ', '\n', '\n\n', '\r\n', '\t', ' \n', '. ', ', ', ': ', ' - ', '\n    '];
// Whitespace-only fragments stay short too: even 40 in a row with separators are below MAX_EXACT_PIECE.
const WHITESPACE = [' ', '  ', '\t', '\n', '\r\n', ' \t ', '\n\n\n'];

const ordinaryText = fc
  .array(
    fc.tuple(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...FRAGMENTS) },
        { weight: 1, arbitrary: fc.constantFrom(...WHITESPACE) },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
        { weight: 1, arbitrary: fc.string({ maxLength: 16 }) },
      ),
      fc.constantFrom(...SEPARATORS),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.map(([f, s]) => f + s).join(''));

describe.each(['o200k_base', 'cl100k_base'] as const)('token counter, %s', (name) => {
  const exact = EXACT[name];

  it('equals the exact count on a corpus of ordinary texts', async () => {
    const count = await loadTokenCounter(name);
    fc.assert(
      fc.property(ordinaryText, (text) => {
        expect(count(text)).toBe(exact(text));
      }),
      { numRuns: 400, seed: 20240501 },
    );
  });

  it('stays exact when its cache of piece counts hits, and after it filled and was emptied', async () => {
    const count = await loadTokenCounter(name);
    const r = rng(7);
    // 20,000 distinct short pieces fill the cache (8,192 entries) more than twice.
    const many = Array.from({ length: 20_000 }, (_, i) => `${pick(r, FRAGMENTS)}${i.toString(36)}q`).join(' ');
    const again = Array.from({ length: 300 }, () => pick(r, FRAGMENTS)).join(' ');
    for (const text of [again, many, again, many]) expect(count(text)).toBe(exact(text));
  });

  it('equals the exact count on long ordinary texts (prose, code, JSON, CJK, whitespace runs)', async () => {
    const count = await loadTokenCounter(name);
    const r = rng(1);
    const long = [
      Array.from({ length: 4000 }, () => pick(r, FRAGMENTS) + pick(r, SEPARATORS)).join(''),
      JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b'], score: r() }))),
      'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(2000),
      '中文测试，你好世界。日本語のテキストです。'.repeat(500),
      'x' + ' '.repeat(MAX_EXACT_PIECE - 1) + 'y\n' + '\n'.repeat(MAX_EXACT_PIECE - 1) + 'z',
      // pieces of exactly MAX_EXACT_PIECE units: 'aaa…', ' 😀…' (space included), ' ---…'
      'a'.repeat(MAX_EXACT_PIECE) + ' ' + '😀'.repeat((MAX_EXACT_PIECE - 2) / 2) + ' ' + '-'.repeat(MAX_EXACT_PIECE - 1),
    ];
    for (const text of long) expect(count(text)).toBe(exact(text));
  });

  it('counts special-token text as ordinary text, never below the special token', async () => {
    const count = await loadTokenCounter(name);
    const text = 'before <|endoftext|> after <|fim_prefix|>';
    // gpt-tokenizer's countTokens without options refuses such text.
    expect(() => (name === 'o200k_base' ? o200kExact(text) : cl100kExact(text))).toThrow(/Disallowed special token/);
    expect(count(text)).toBe(exact(text));
    const asSpecial = (name === 'o200k_base' ? o200kExact : cl100kExact)(text, { allowedSpecial: 'all' });
    expect(count(text)).toBeGreaterThanOrEqual(asSpecial);
    expect(count('<|endoftext|>')).toBeGreaterThan(1);
  });

  it('is never lower than the exact count on pathological texts', async () => {
    const count = await loadTokenCounter(name);
    const r = rng(2);
    const emoji = (n: number) => Array.from({ length: n }, () => String.fromCodePoint(0x1f300 + Math.floor(r() * 700))).join('');
    const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(r() * 26))).join('');
    // Sizes kept where gpt-tokenizer's own exact count takes well under a second (it is quadratic).
    const texts = [
      emoji(512), emoji(4096), '😀'.repeat(4096), '👍🏽'.repeat(1000), '🇯🇵'.repeat(1000),
      'a'.repeat(1000), 'a'.repeat(20_000), 'A'.repeat(8192), 'é'.repeat(8192),
      letters(20_000), // a 20 KB run without spaces
      '1234567890'.repeat(2000),
      Array.from({ length: 8192 }, () => pick(r, [...B64])).join(''), // a base64 blob
      Buffer.from(Array.from({ length: 8192 }, () => Math.floor(r() * 256))).toString('latin1'), // random bytes as latin1
      '漢字'.repeat(2048), '-'.repeat(8192), '=-'.repeat(4096), '!/\n'.repeat(2000),
      ' '.repeat(8192) + 'x', '\n'.repeat(8192), ' \t'.repeat(4096) + 'x', '\t\t' + emoji(300),
      'prefix words ' + emoji(1000) + ' suffix words ' + 'z'.repeat(5000) + ' end',
    ];
    for (const text of texts) {
      const got = count(text);
      expect(got).toBeGreaterThanOrEqual(exact(text));
      expect(got).toBeLessThanOrEqual(bytes(text));
    }
  });

  it('is never lower than the exact count on generated mixes of ordinary text and long runs', async () => {
    const count = await loadTokenCounter(name);
    const run = fc
      .tuple(fc.constantFrom('😀', '🎉', 'a', 'Z', 'é', '漢', '-', ' ', '\n', '/', '9', 'ab', '👍🏽', 'ä\u0301'), fc.integer({ min: 1, max: 1500 }))
      .map(([unit, n]) => unit.repeat(n));
    const mixed = fc
      .array(fc.tuple(fc.oneof(ordinaryText, run), fc.constantFrom('', ...SEPARATORS)), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.map(([f, s]) => f + s).join(''));
    fc.assert(
      fc.property(mixed, (text) => {
        const got = count(text);
        expect(got).toBeGreaterThanOrEqual(exact(text));
        expect(got).toBeLessThanOrEqual(bytes(text));
      }),
      { numRuns: 150, seed: 20240502 },
    );
  });

  it('counts a 256 KiB run without spaces (one piece) as its UTF-8 bytes', async () => {
    const count = await loadTokenCounter(name);
    // Exact counting of these takes 17–20 s (emoji); the counter's work is one pass. Not timed here.
    const emojiRun = '😀🎉🚀👍'.repeat(256 * 1024 / 16); // 256 KiB of UTF-8
    const letterRun = 'a'.repeat(256 * 1024);
    expect(bytes(emojiRun)).toBe(256 * 1024);
    expect(count(emojiRun)).toBe(256 * 1024);
    expect(count(letterRun)).toBe(256 * 1024);
    // The run's bound adds to the exact count of the ordinary text around it.
    expect(count(`hello world\n${letterRun} bye`)).toBe(count('hello world\n') + bytes(letterRun) + count(' bye'));
  });
});

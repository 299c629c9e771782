/**
 * What TLS costs on the agent port (PROTOCOL.md §1): ping and store through
 * TLS beside plaintext, against two daemons started side by side in one run,
 * with the TS client (one connection; sequential for latency, 16 in flight
 * for throughput). Medians over rounds that alternate the two, so machine
 * noise hits both alike.
 *
 *   npm run bench:tls          → bench/tls.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CtxdClient, type ClientTls } from '../src/client/index.ts';
import { makePki } from '../test/helpers/certs.ts';
import { ROOT, startCtxd, tempDir, type RunningCtxd } from './lib/processes.ts';
import { fmt, median, table } from './lib/report.ts';
import { englishLike } from './lib/texts.ts';

const ROUNDS = 5;
const SEQUENTIAL = 2000;
const PIPELINED = 20_000;
const IN_FLIGHT = 16;
const STORES = 1000;

interface Side {
  readonly name: string;
  readonly daemon: RunningCtxd;
  readonly client: CtxdClient;
}

async function sequentialLatencyMs(c: CtxdClient, n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    lat.push(performance.now() - t);
  }
  return median(lat);
}

async function pipelinedPerSecond(n: number, op: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next++ < n) await op();
  }));
  return n / ((performance.now() - t) / 1000);
}

const pki = makePki();
const tlsFlags = ['--set', `tls.cert_file=${pki.serverCert}`, '--set', `tls.key_file=${pki.serverKey}`];
const sides: Side[] = [];
for (const [name, extra, tls] of [['plaintext', [], undefined], ['TLS', tlsFlags, { ca: readFileSync(pki.caCert) }]] as Array<[string, string[], ClientTls | undefined]>) {
  const daemon = await startCtxd(tempDir(`ctxd-bench-tls-${name}-`), extra);
  const client = await CtxdClient.connect({ port: daemon.port, kid: daemon.kid, secret: daemon.secretHex, ...(tls && { tls }) });
  sides.push({ name, daemon, client });
}

const results = new Map<string, { pingMs: number[]; pingRate: number[]; storeMs: number[] }>(sides.map((s) => [s.name, { pingMs: [], pingRate: [], storeMs: [] }]));
let text = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const s of round % 2 === 0 ? sides : [...sides].reverse()) {
    const r = results.get(s.name)!;
    r.pingMs.push(await sequentialLatencyMs(s.client, SEQUENTIAL, () => s.client.ping()));
    r.pingRate.push(await pipelinedPerSecond(PIPELINED, () => s.client.ping()));
    r.storeMs.push(await sequentialLatencyMs(s.client, STORES / ROUNDS, () => s.client.store({ text: englishLike(text++, 200), level: 3 })));
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
}
for (const s of sides) {
  await s.client.close();
  await s.daemon.stop();
}

const row = (name: string) => {
  const r = results.get(name)!;
  return { pingMs: median(r.pingMs), pingRate: median(r.pingRate), storeMs: median(r.storeMs) };
};
const [p, t] = [row('plaintext'), row('TLS')];
const report = `# TLS beside plaintext

\`npm run bench:tls\` (bench/tls.ts), ${new Date().toISOString().slice(0, 10)}, shared 2-core machine. Two daemons side by side (hash
embedder, durability strict, server pinned as in bench/RESULTS.md), one TS client connection each; ${ROUNDS} rounds alternating the
two, medians of the rounds. TLS 1.3 with an ECDSA P-256 certificate made at run time; no client certificate.

${table(
  ['', 'ping p50, sequential (ms)', `ping/s, ${IN_FLIGHT} in flight`, 'durable store p50, sequential (ms)'],
  [
    ['plaintext', fmt(p.pingMs, 3), fmt(p.pingRate, 0), fmt(p.storeMs, 2)],
    ['TLS', fmt(t.pingMs, 3), fmt(t.pingRate, 0), fmt(t.storeMs, 2)],
    ['TLS / plaintext', fmt(t.pingMs / p.pingMs, 2), fmt(t.pingRate / p.pingRate, 2), fmt(t.storeMs / p.storeMs, 2)],
  ],
)}

Pings measure the transport (TLS adds record encryption and one more copy per frame); stores add the group-commit
fsync, which TLS does not change. With one connection the client's own work (signing, encoding) bounds the rate on
both sides; a ratio within a few per cent of 1 is within this machine's noise between rounds.
`;
writeFileSync(join(ROOT, 'bench', 'tls.md'), report);
process.stdout.write(report);

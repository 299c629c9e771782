/**
 * The per-request CPU floor of a signed `ping`, in process, with no socket:
 * what any server speaking the protocol must do for each request, and nothing
 * else. For each chunk of `inflight` pipelined frames (as one read delivers
 * them at 50 × `inflight`): cut the frames (FrameDecoder), verify each tag
 * (HMAC-SHA256), check and decode each body (the daemon's own decodeMessage),
 * then pack and sign an answer (encodeFrame: MessagePack + HMAC-SHA256).
 * Left out: socket reads and writes, dispatch, the replay guard, metrics.
 * Section 1 of bench/run.ts sets the daemon's CPU per request beside it.
 *
 *   node bench/ping-floor.ts INFLIGHT     prints {"inflight":16,"us_per_request":…}
 */
import { randomBytes } from 'node:crypto';
import { decodeMessage } from '../src/protocol/codec.ts';
import { FrameDecoder } from '../src/protocol/decoder.ts';
import { encodeFrame } from '../src/protocol/frame.ts';
import { okResponse } from '../src/protocol/messages.ts';
import { signingKey, verifyTag } from '../src/protocol/signer.ts';

const inflight = Number(process.argv[2] ?? 1);
const KID = 'bench';
const key = signingKey(randomBytes(32));
const EMPTY = Object.freeze({});
// Distinct requests, framed as the load generator frames them (id, ts, op, empty body).
const chunks = Array.from({ length: 512 }, (_, c) =>
  Buffer.concat(Array.from({ length: inflight }, (_, i) => encodeFrame(KID, key, { id: `p-${c}-${i}`, ts: Date.now(), op: 'ping', body: {} }))),
);

/** Serves one chunk as the floor allows; returns the bytes answered (kept, so nothing is optimised away). */
function serve(decoder: FrameDecoder, chunk: Buffer): number {
  let bytes = 0;
  for (const frame of decoder.write(chunk).frames) {
    if (!verifyTag(key, frame.signed, frame.tag)) throw new Error('tag does not verify');
    const decoded = decodeMessage(frame.body);
    if (decoded.error) throw new Error(decoded.error.message);
    const { id } = decoded.value as { id: string };
    bytes += encodeFrame(KID, key, okResponse(id, EMPTY, Date.now())).length;
  }
  return bytes;
}

const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
let sink = 0;
for (let i = 0; i < 20_000 / inflight; i++) sink += serve(decoder, chunks[i % chunks.length]!);
// Median of 9 rounds of ~50,000 requests each: this machine is shared.
const rounds: number[] = [];
const perRound = Math.ceil(50_000 / inflight);
for (let r = 0; r < 9; r++) {
  const t = process.cpuUsage();
  for (let i = 0; i < perRound; i++) sink += serve(decoder, chunks[i % chunks.length]!);
  const used = process.cpuUsage(t);
  rounds.push((used.user + used.system) / (perRound * inflight));
}
rounds.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ inflight, us_per_request: rounds[4], min: rounds[0], max: rounds[8], answered_bytes: sink }) + '\n');

/**
 * A real HTTP server speaking the OpenAI embeddings API (POST /v1/embeddings)
 * on 127.0.0.1, for the openai embedder's tests and the daemon's integration
 * tests. Vectors are deterministic (derived from a hash of each text, not
 * normalised), every request is recorded, and answers can be scripted:
 * failures, hangs, delays, a paused gate, shuffled output.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when it was not JSON). */
  readonly body: { model?: unknown; input?: unknown; encoding_format?: unknown; [k: string]: unknown } | undefined;
}

export interface FailSpec {
  readonly status: number;
  /** The Retry-After header: seconds, or an HTTP date string. */
  readonly retryAfter?: number | string;
  /**
   * The response body. Default: an OpenAI-style error JSON that echoes the
   * request's Authorization header, to prove clients scrub it from their errors.
   */
  readonly body?: string;
}

export type FakeMode = 'ok' | 'fail500' | 'hang';

export interface FakeOpenAiOptions {
  /** Dimensions of the vectors returned. Default 8. */
  readonly dims?: number;
  /** When set, requests without `Authorization: Bearer <apiKey>` get a 401. */
  readonly apiKey?: string;
}

type Scripted = { kind: 'fail'; spec: FailSpec } | { kind: 'hang' };

/** The raw (unnormalised) vector the fake returns for `text`. */
export function fakeVector(text: string, dims: number): number[] {
  const out: number[] = [];
  for (let block = 0; out.length < dims; block++) {
    const h = createHash('sha256').update(`${block}\u0000${text}`).digest();
    for (let i = 0; i + 1 < h.length && out.length < dims; i += 2) {
      // values in [-2, 2): a recognisable scale, so a missing normalisation shows
      out.push((h.readUInt16BE(i) / 65536) * 4 - 2);
    }
  }
  return out;
}

export class FakeOpenAi {
  readonly requests: RecordedRequest[] = [];
  /** Number of texts of every embeddings request received, in arrival order. */
  readonly batchSizes: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  dims: number;
  /** Reverse `data` in successful answers (clients must order by `index`). */
  shuffle = false;
  /** Wait this long before answering successfully. */
  delayMs = 0;

  private readonly server: Server;
  private readonly apiKey: string | undefined;
  private readonly script: Scripted[] = [];
  private mode: FakeMode = 'ok';
  private paused = false;
  private readonly gated: Array<() => void> = [];
  private readonly hung = new Set<ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private port = 0;

  private constructor(opts: FakeOpenAiOptions) {
    this.dims = opts.dims ?? 8;
    this.apiKey = opts.apiKey;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks), res));
    });
    this.server.keepAliveTimeout = 1000;
  }

  static async start(opts: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
    const fake = new FakeOpenAi(opts);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** e.g. http://127.0.0.1:PORT/v1: the embedder's base URL. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  get requestCount(): number {
    return this.requests.length;
  }

  /** The next `n` requests fail with `spec`. */
  failNext(n: number, spec: FailSpec): void {
    for (let i = 0; i < n; i++) this.script.push({ kind: 'fail', spec });
  }

  /** The next `n` requests are accepted and never answered (until the client gives up or close()). */
  hangNext(n: number): void {
    for (let i = 0; i < n; i++) this.script.push({ kind: 'hang' });
  }

  /** How requests are answered once the script of failNext/hangNext is used up. */
  setMode(mode: FakeMode): void {
    this.mode = mode;
  }

  /** Hold every successful answer until resume() (the requests still count as in flight). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const go of this.gated.splice(0)) go();
  }

  /** Resolves once `pred` holds, checking every few ms (for states reached by traffic, e.g. in-flight counts). */
  async until(pred: (fake: FakeOpenAi) => boolean, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > end) throw new Error('fake-openai: condition not reached in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The raw vector this server returns for `text`. */
  vectorFor(text: string): number[] {
    return fakeVector(text, this.dims);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.gated.length = 0;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private handle(method: string, url: string, headers: IncomingHttpHeaders, raw: Buffer, res: ServerResponse): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => {
      this.inFlight--;
      this.hung.delete(res);
    });

    let body: RecordedRequest['body'];
    try {
      body = JSON.parse(raw.toString('utf8')) as RecordedRequest['body'];
    } catch {
      body = undefined;
    }
    this.requests.push({ method, url, headers, body });

    if (method !== 'POST' || url.split('?')[0] !== '/v1/embeddings') {
      return this.json(res, 404, { error: { message: `no route ${method} ${url}` } });
    }
    const input = body?.input;
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
      return this.json(res, 400, { error: { message: 'input must be a string or an array of strings' } });
    }
    this.batchSizes.push(texts.length);
    if (this.apiKey !== undefined && headers.authorization !== `Bearer ${this.apiKey}`) {
      return this.json(res, 401, {
        error: { message: `Incorrect API key provided: ${headers.authorization ?? '(none)'}` },
      });
    }

    const step = this.script.shift();
    if (step?.kind === 'hang' || (!step && this.mode === 'hang')) {
      this.hung.add(res);
      return;
    }
    const fail = step?.kind === 'fail' ? step.spec : this.mode === 'fail500' ? { status: 500 } : undefined;
    if (fail) {
      const h: Record<string, string> = { 'content-type': 'application/json' };
      if (fail.retryAfter !== undefined) h['retry-after'] = String(fail.retryAfter);
      const errBody =
        fail.body ??
        JSON.stringify({
          error: { message: `request failed (authorization: ${headers.authorization ?? '(none)'})`, code: fail.status },
        });
      res.writeHead(fail.status, h).end(errBody);
      return;
    }

    const data = (texts as string[]).map((t, index) => ({ object: 'embedding', index, embedding: fakeVector(t, this.dims) }));
    if (this.shuffle) data.reverse();
    const answer = (): void => {
      if (res.destroyed) return;
      this.json(res, 200, {
        object: 'list',
        data,
        model: body?.model ?? 'fake',
        usage: { prompt_tokens: texts.length, total_tokens: texts.length },
      });
    };
    const afterDelay = (): void => {
      if (this.delayMs <= 0) return answer();
      const t = setTimeout(() => {
        this.timers.delete(t);
        answer();
      }, this.delayMs);
      this.timers.add(t);
    };
    if (this.paused) this.gated.push(afterDelay);
    else afterDelay();
  }

  private json(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  }
}

/**
 * Starts the real daemon as a child process on ephemeral ports, the way a user
 * runs it (`ctxd serve`), and hands tests a client for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { CtxdClient, keyFromDataDir, type ClientOptions } from '../../src/client/index.ts';
import type { ComponentHealth } from '../../src/http/side-server.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const CLI = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** The components /health reports (src/daemon.ts `health`), with the details tests read. */
export interface HealthComponents {
  readonly store: ComponentHealth & { readonly quarantined: number; readonly quarantine_sample: ReadonlyArray<{ readonly id: string; readonly reason: string }> };
  readonly embedder: ComponentHealth & { readonly kind: string; readonly model: string; readonly dims: number; readonly breaker?: string };
  readonly [component: string]: ComponentHealth;
}

/** The JSON the side server answers (src/http/side-server.ts): a probe's status and reason, and /health's report. */
export interface SideJson {
  readonly status?: string;
  readonly reason?: string;
  readonly version?: string;
  readonly uptime_s?: number;
  readonly components?: HealthComponents;
}

export interface StartOptions {
  /** Extra `ctxd serve` flags, e.g. ['--set', 'server.frame_deadline_ms=300']. */
  readonly args?: string[];
  readonly env?: Record<string, string>;
  /** Reuse a data dir (restart tests); a fresh temp dir otherwise. */
  readonly dataDir?: string;
}

export interface RunningDaemon {
  readonly port: number;
  /** The side HTTP server's port. */
  readonly httpPort: number;
  /** GET on the side server: status, the parsed JSON ({} for a page that is not JSON, as /metrics), and the text. */
  http(path: string): Promise<{ status: number; body: SideJson; text: string }>;
  readonly dataDir: string;
  readonly kid: string;
  readonly secret: Buffer;
  readonly proc: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: string[];
  client(opts?: Partial<ClientOptions>): Promise<CtxdClient>;
  /** Resolves with the first log line with this `msg` (already logged or to come); rejects after `ms`. */
  waitForLog(msg: string, ms?: number): Promise<LogLine>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'ctxd-test-'));
}

const running = new Set<RunningDaemon>();

export async function startDaemon(opts: StartOptions = {}): Promise<RunningDaemon> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--http-port', '0', '--data-dir', dataDir, ...(opts.args ?? [])], {
    cwd: REPO_ROOT,
    // Tests run the small hash embedder unless they ask for another (test/integration/meaning.test.ts runs the default).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', CTXD_EMBEDDER_KIND: 'hash', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const logWaiters: Array<() => void> = [];
  const stderr: string[] = [];
  let sent: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((res) =>
    proc.once('exit', (code, signal) => {
      // A graceful stop that did not end in 0 (a signal, or an error): said with what the daemon left, so a rare failure
      // on CI can be read from its output (a bare `null` or `1` says nothing).
      if (sent === 'SIGTERM' && code !== 0) {
        console.error(`ctxd on ${dataDir} exited with code ${code} signal ${signal} (sent ${sent}); stderr:\n${stderr.join('\n')}\nlast log lines:\n${logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
      }
      res(code);
    }),
  );
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const [port, httpPort] = await new Promise<[number, number]>((res, rej) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let entry: LogLine;
      try {
        entry = JSON.parse(line) as LogLine;
      } catch {
        return;
      }
      logs.push(entry);
      for (const wake of logWaiters.splice(0)) wake();
      if (entry.msg === 'listening') res([entry.port as number, entry.http_port as number]);
    });
    void exited.then((code) => rej(new Error(`daemon exited with ${code} before listening: ${stderr.join('\n')}`)));
  });
  const key = opts.env?.CTXD_KEY_ID
    ? { kid: opts.env.CTXD_KEY_ID, secret: Buffer.from(opts.env.CTXD_KEY_SECRET!, 'hex') }
    : keyFromDataDir(dataDir)!;
  const daemon: RunningDaemon = {
    port,
    httpPort,
    http: async (path) => {
      const r = await fetch(`http://127.0.0.1:${httpPort}${path}`);
      const text = await r.text();
      let body: SideJson = {};
      try {
        body = JSON.parse(text) as SideJson;
      } catch {
        // metrics are text
      }
      return { status: r.status, body, text };
    },
    dataDir,
    kid: key.kid,
    secret: key.secret,
    proc,
    logs,
    stderr,
    exited,
    waitForLog: async (msg, ms = 20_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = logs.find((l) => l.msg === msg);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no log line ${JSON.stringify(msg)} within ${ms} ms`);
        await Promise.race([new Promise<void>((r) => logWaiters.push(r)), exited, new Promise((r) => setTimeout(r, 200))]);
      }
    },
    client: (o = {}) => CtxdClient.connect({ port, kid: key.kid, secret: key.secret, maxReconnectAttempts: 0, ...o }),
    stop: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) {
        sent = signal;
        proc.kill(signal);
      }
      return exited;
    },
  };
  running.add(daemon);
  void exited.then(() => running.delete(daemon));
  return daemon;
}

/** Kills every daemon a test file started and removes temp dirs (call from afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop('SIGKILL')));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

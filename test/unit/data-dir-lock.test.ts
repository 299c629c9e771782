import { hashSpace } from '../../src/engine/text/hash-embedder.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, DataDirLock } from '../../src/store/embedded/data-dir-lock.ts';
import { EmbeddedStore } from '../../src/store/embedded/embedded-store.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'hold-data-dir-lock.ts');
const ann = { threshold: 20_000, connectivity: 16, expansionAdd: 128, expansionSearch: 128 };
const dirs: string[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ctxd-lock-'));
  dirs.push(d);
  return d;
}

const store = (dataDir: string) => new EmbeddedStore({ dataDir, space: hashSpace(384), durability: 'relaxed', ann });

/** Starts a process holding `dir`'s lock; resolves with its first line ("locked" or "busy ..."). */
function holder(dir: string): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--expose-gc', FIXTURE, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, line }));
    child.once('error', reject);
  });
}

const exited = (child: ChildProcess) => new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    await exited(c);
  }
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('one daemon per data dir', () => {
  it('refuses a second open in the same process, naming our pid, and frees the dir on close', async () => {
    const dir = tempDir();
    const first = store(dir);
    await first.open();
    expect(readFileSync(join(dir, 'ctxd.pid'), 'utf8').trim()).toBe(String(process.pid));
    const second = store(dir);
    await expect(second.open()).rejects.toThrow(`data dir ${dir} is in use by another ctxd (pid ${process.pid})`);
    await expect(second.open()).rejects.toBeInstanceOf(DataDirInUseError);
    // The failed attempts closed their own connections without dropping the first one's lock (POSIX locks are per process).
    expect((await holder(dir)).line).toMatch(/^busy data dir .* \(pid \d+\)$/);
    await first.close();
    await second.open();
    await second.close();
  });

  it('refuses to open while another process holds the dir, and opens once it was killed -9', async () => {
    const dir = tempDir();
    const { child, line } = await holder(dir);
    expect(line).toBe('locked');
    const s = store(dir);
    const refused = await s.open().then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(DataDirInUseError);
    expect((refused as DataDirInUseError).pid).toBe(child.pid);
    expect((refused as Error).message).toContain(`(pid ${child.pid})`);
    // No lock file left behind may block a restart: the OS dropped the dead process's lock.
    child.kill('SIGKILL');
    await exited(child);
    await s.open();
    expect(readFileSync(join(dir, 'ctxd.pid'), 'utf8').trim()).toBe(String(process.pid));
    await s.close();
  });

  it('a child cannot take a lock this process holds', async () => {
    const dir = tempDir();
    const lock = DataDirLock.acquire(dir);
    const { line } = await holder(dir);
    expect(line).toBe(`busy data dir ${dir} is in use by another ctxd (pid ${process.pid})`);
    lock.release();
    expect((await holder(dir)).line).toBe('locked');
  });
});

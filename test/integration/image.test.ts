/**
 * The container image without a container engine: this test parses the
 * Dockerfile and runs its own steps (WORKDIR, ENV, COPY with --from and
 * --chown, RUN, USER) in a temporary tree per stage, the runtime stage's as
 * the user it declares, then starts the daemon from that tree with the
 * image's ENTRYPOINT and CMD, as that user, and checks it serves, embeds with
 * the model assets the image carries, and writes nowhere but its data volume.
 * It also checks that k8s/ctxd.yaml agrees with the image and the config
 * schema. The check cannot drift from the file: it is the file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CtxdClient, keyFromDataDir } from '../../src/client/index.ts';
import { loadConfig } from '../../src/config/load.ts';
import { REPO_ROOT, removeDir } from '../helpers/daemon.ts';
import { ctxd } from '../helpers/cli.ts';

interface Instruction {
  readonly op: string;
  readonly args: string;
}

interface Stage {
  readonly name: string;
  readonly root: string;
  workdir: string;
  env: Record<string, string>;
  user: { uid: number; gid: number } | null;
  entrypoint: string[];
  cmd: string[];
}

/** Instructions of the Dockerfile: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

/** ENV a=b c=d, with optional quotes. */
function parseEnv(args: string): Record<string, string> {
  return Object.fromEntries([...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]));
}

const isRoot = process.getuid?.() === 0;

/** Proxy and CA settings of this machine, which a RUN step needs to reach the npm registry. */
function hostNetworkEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|(HTTPS?|NO)_PROXY)$/i.test(e[0])));
}
const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** Where a path of a stage's filesystem lives in its tree. */
const inStage = (s: Stage, path: string) => join(s.root, path.startsWith('/') ? path : join(s.workdir, path));

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (lstatSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

/** Runs the Dockerfile's steps; returns the last (runtime) stage. */
function build(instructions: Instruction[], base: string): Stage {
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  for (const { op, args } of instructions) {
    if (op === 'FROM') {
      const name = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? `stage${stages.length}`;
      const root = join(base, name);
      mkdirSync(root, { recursive: true, mode: 0o755 });
      stage = { name, root, workdir: '/', env: {}, user: null, entrypoint: [], cmd: [] };
      stages.push(stage);
      continue;
    }
    const s = stage!;
    switch (op) {
      case 'WORKDIR':
        s.workdir = args;
        mkdirSync(inStage(s, '.'), { recursive: true, mode: 0o755 });
        break;
      case 'ENV':
        Object.assign(s.env, parseEnv(args));
        break;
      case 'USER': {
        const [uid, gid] = args.split(':').map(Number);
        s.user = { uid: uid!, gid: gid ?? uid! };
        break;
      }
      case 'COPY': {
        const words = args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const chown = words.find((w) => w.startsWith('--chown='))?.slice('--chown='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths.pop()!;
        const source = from ? stages.find((x) => x.name === from)! : undefined;
        for (const p of paths) {
          const src = source ? join(source.root, p) : join(REPO_ROOT, p);
          const target = dest.endsWith('/') ? join(inStage(s, dest), p.split('/').pop()!) : inStage(s, dest);
          mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
          cpSync(src, target, { recursive: true, dereference: false });
          if (chown && isRoot) {
            const [uid, gid] = chown.split(':').map(Number);
            chownTree(target, uid!, gid ?? uid!);
          }
        }
        break;
      }
      case 'RUN': {
        // Steps stay inside WORKDIR (the Dockerfile's rule), so running them here touches nothing else.
        expect(args, `RUN ${args} must use paths inside WORKDIR`).not.toMatch(/(^|\s)\/(?!dev\/null)/);
        const r = spawnSync('sh', ['-c', args], {
          cwd: inStage(s, '.'),
          // The build host's network settings (proxy, CA bundle) reach RUN steps, as docker build passes them.
          env: { ...hostNetworkEnv(), PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...s.env },
          stdio: ['ignore', 'pipe', 'pipe'],
          ...(s.user && isRoot && { uid: s.user.uid, gid: s.user.gid }),
          timeout: 600_000,
        });
        expect(r.status, `RUN ${args}: ${r.stderr?.toString()}`).toBe(0);
        break;
      }
      case 'ENTRYPOINT':
        s.entrypoint = JSON.parse(args) as string[];
        break;
      case 'CMD':
        s.cmd = JSON.parse(args) as string[];
        break;
      default:
        // EXPOSE, VOLUME: checked against k8s below, nothing to run.
        break;
    }
  }
  return stages.at(-1)!;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));

describe('container image steps', () => {
  it.skipIf(!isRoot)('build in a tree, then the daemon starts from it as the image\u2019s user and writes only its volume', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ctxd-image-'));
    dirs.push(base);
    chmodSync(base, 0o755);
    const runtime = build(dockerfile, base);
    expect(runtime.user).toEqual({ uid: 10001, gid: 10001 });
    const dataDir = inStage(runtime, runtime.env.CTXD_DATA_DIR!);
    expect(statSync(dataDir).uid).toBe(10001);

    // ENTRYPOINT + CMD as the image runs them, on port 0 and the tree's paths. The base image brings `node`:
    // this Node 24, copied into the tree where the image's user can run it (the repository may not be readable to it).
    const [bin, ...entry] = runtime.entrypoint;
    expect(bin).toBe('node');
    const node = join(runtime.root, 'usr', 'local', 'bin', 'node');
    mkdirSync(dirname(node), { recursive: true, mode: 0o755 });
    cpSync(process.execPath, node);
    chmodSync(node, 0o755);
    const env = Object.fromEntries(Object.entries(runtime.env).map(([k, v]) => [k, v.startsWith('/') ? inStage(runtime, v) : v]));
    const proc = spawn(node, [...entry, ...runtime.cmd, '--port', '0', '--http-port', '0'], {
      cwd: inStage(runtime, '.'),
      env: { PATH: process.env.PATH ?? '', ...env },
      uid: runtime.user!.uid,
      gid: runtime.user!.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
    const started = new Promise<{ port: number; embedder: string }>((resolve, reject) => {
      let embedder = '';
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const e = JSON.parse(line) as { msg: string; port?: number; embedder?: string };
        if (e.msg === 'embedder ready') embedder = e.embedder!;
        if (e.msg === 'listening') resolve({ port: e.port!, embedder });
      });
      proc.once('exit', (code) => reject(new Error(`daemon exited ${code}: ${stderr.join('\n')}`)));
      proc.once('error', (e) => reject(new Error(`daemon did not start: ${e.message}`)));
    });
    const exited = new Promise((r) => proc.once('close', r));
    try {
      const { port, embedder } = await started;
      // The default embedder: the model's weights and the WASM runtime are in the image's node_modules.
      expect(embedder).toMatch(/^local:/);
      const key = keyFromDataDir(dataDir)!;
      const c = await CtxdClient.connect({ host: '127.0.0.1', port, kid: key.kid, secret: key.secret, maxReconnectAttempts: 0 });
      await c.store({ text: 'The staging database is restored every Sunday night.', level: 3 });
      const r = await c.retrieve({ query: 'how often is the staging database restored', max_tokens: 200 });
      expect(r.contexts[0]?.text).toBe('The staging database is restored every Sunday night.');
      await c.close();
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
    // Read-only root filesystem: the image's user can write nothing but the volume, and wrote nothing else.
    const probe = spawnSync('sh', ['-c', 'touch probe'], { cwd: inStage(runtime, '.'), uid: 10001, gid: 10001 });
    expect(probe.status).not.toBe(0);
    const owned: string[] = [];
    const walk = (p: string) => {
      const st = lstatSync(p);
      if (st.uid === 10001 && !p.startsWith(dataDir)) owned.push(relative(runtime.root, p));
      if (st.isDirectory() && !st.isSymbolicLink()) for (const e of readdirSync(p)) walk(join(p, e));
    };
    walk(runtime.root);
    expect(owned).toEqual([]);
  }, 900_000);
});

describe('k8s/ctxd.yaml agrees with the image and the config schema', () => {
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'k8s', 'ctxd.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);

  it('the container, its probes, ports, user and volumes match the Dockerfile and the daemon', () => {
    const set = byKind('StatefulSet')[0]!;
    const pod = set.spec.template.spec;
    const container = pod.containers[0];
    const user = dockerfile.find((i) => i.op === 'USER')!.args.split(':').map(Number);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: user[0], fsGroup: user[1] });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    const exposed = dockerfile.find((i) => i.op === 'EXPOSE')!.args.split(/\s+/).map(Number);
    expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).toEqual(exposed);
    const env = parseEnv(dockerfile.find((i) => i.op === 'ENV')!.args);
    const data = container.volumeMounts.find((m: { name: string }) => m.name === 'data');
    expect(data.mountPath).toBe(env.CTXD_DATA_DIR);
    // The probes are paths the side server answers (test/integration/operability.test.ts).
    expect([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path]).toEqual(['/health/readiness', '/health/liveness']);
  });

  it('the ConfigMap is a configuration the daemon accepts, with the image\u2019s data dir and ports', () => {
    const map = byKind('ConfigMap').find((m) => m.metadata.name === 'ctxd-config')!;
    const dir = mkdtempSync(join(tmpdir(), 'ctxd-k8s-config-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'ctxd.json'), map.data['ctxd.json']);
    const config = loadConfig({ file: join(dir, 'ctxd.json') });
    const set = byKind('StatefulSet')[0]!;
    const container = set.spec.template.spec.containers[0];
    expect(config.data_dir).toBe(container.volumeMounts.find((m: { name: string }) => m.name === 'data').mountPath);
    expect([config.server.port, config.http.port]).toEqual(container.ports.map((p: { containerPort: number }) => p.containerPort));
    expect(config.auth.keyring_file.startsWith(container.volumeMounts.find((m: { name: string }) => m.name === 'keys').mountPath)).toBe(true);
  });

  it('ships a placeholder key the daemon refuses, a NetworkPolicy and a PodDisruptionBudget', async () => {
    const secret = byKind('Secret')[0]!;
    expect(secret.stringData['keys.json']).toContain('REPLACE-ME');
    const dir = mkdtempSync(join(tmpdir(), 'ctxd-placeholder-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'keys.json'), secret.stringData['keys.json'], { mode: 0o600 });
    const refused = await ctxd(['serve', '--port', '0', '--http-port', '0', '--data-dir', dir], { CTXD_EMBEDDER_KIND: 'hash' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the placeholder key REPLACE-ME from k8s/ctxd.yaml is public');
    expect(byKind('NetworkPolicy')).toHaveLength(1);
    expect(byKind('PodDisruptionBudget')).toHaveLength(1);
  });
});

/**
 * The scaled-out manifests (k8s/scaled/) checked against the code, without a
 * cluster: the ctxd config is one the daemon accepts, ports and probe paths
 * are the daemon's, every environment name is one the daemon reads, the
 * variable the config names for the Qdrant key is provided, the Qdrant URL
 * is the Qdrant Service, and Qdrant runs as one bootstrapped cluster.
 * (k8s/ctxd.yaml, the one-replica variant, is checked in image.test.ts.)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CONFIG_LEAVES, envName, loadConfig } from '../../src/config/load.ts';
import { LIVENESS_PATHS, READINESS_PATHS } from '../../src/http/side-server.ts';
import { REPO_ROOT } from '../helpers/daemon.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

const dir = join(REPO_ROOT, 'k8s', 'scaled');
const docs: Doc[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Doc));
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
const named = (kind: string, name: string) => byKind(kind).find((d) => d.metadata.name === name)!;
const tmp = mkdtempSync(join(tmpdir(), 'ctxd-k8s-scaled-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Variables the CLI reads besides the CTXD_<setting> ones (src/cli/serve.ts). */
const CLI_ENV = new Set(['CTXD_CONFIG', 'CTXD_KEY_ID', 'CTXD_KEY_SECRET']);
const SETTING_ENV = new Set(CONFIG_LEAVES.map((l) => envName(l.path)));

const deployment = named('Deployment', 'ctxd');
const pod = deployment.spec.template.spec;
const ctxd = pod.containers[0];
const configMap = named('ConfigMap', 'ctxd-scaled-config');
writeFileSync(join(tmp, 'ctxd.json'), configMap.data['ctxd.json']);
const config = loadConfig({ file: join(tmp, 'ctxd.json') });

describe('k8s/scaled: ctxd replicas over a Qdrant cluster', () => {
  it('runs several ctxd replicas with the qdrant backend, from a config the daemon accepts', () => {
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    expect(config.store.backend).toBe('qdrant');
    expect(ctxd.args).toEqual(['serve', '--config', '/etc/ctxd/ctxd.json']);
    const mount = ctxd.volumeMounts.find((m: Doc) => m.name === 'config');
    expect(mount.mountPath).toBe('/etc/ctxd');
    expect(pod.volumes.find((v: Doc) => v.name === 'config').configMap.name).toBe(configMap.metadata.name);
  });

  it('exposes the configured ports, and probes liveness and readiness on the side server\'s own paths', () => {
    expect(ctxd.ports.map((p: Doc) => p.containerPort)).toEqual([config.server.port, config.http.port]);
    const http = ctxd.ports.find((p: Doc) => p.containerPort === config.http.port).name;
    expect(ctxd.livenessProbe.httpGet.port).toBe(http);
    expect(ctxd.readinessProbe.httpGet.port).toBe(http);
    expect(LIVENESS_PATHS).toContain(ctxd.livenessProbe.httpGet.path);
    expect(READINESS_PATHS).toContain(ctxd.readinessProbe.httpGet.path);
    // Liveness must never be the readiness path: readiness follows the store, liveness never does.
    expect(READINESS_PATHS).not.toContain(ctxd.livenessProbe.httpGet.path);
  });

  it('sets only environment variables the daemon reads, and provides the one that holds the Qdrant API key', () => {
    const env: Doc[] = ctxd.env ?? [];
    for (const e of env.filter((x) => x.name.startsWith('CTXD_'))) expect(SETTING_ENV.has(e.name) || CLI_ENV.has(e.name), e.name).toBe(true);
    const keyVar = env.find((e) => e.name === config.store.qdrant.api_key_env);
    expect(keyVar, config.store.qdrant.api_key_env).toBeDefined();
    const ref = keyVar!.valueFrom.secretKeyRef;
    expect(named('Secret', ref.name).stringData[ref.key]).toBeTruthy();
  });

  it('reads the keyring from the Secret it mounts', () => {
    const keys = ctxd.volumeMounts.find((m: Doc) => m.name === 'keys');
    expect(config.auth.keyring_file.startsWith(`${keys.mountPath}/`)).toBe(true);
    const secret = pod.volumes.find((v: Doc) => v.name === 'keys').secret;
    expect(named('Secret', secret.secretName).stringData['keys.json']).toContain('"keys"');
  });

  it('points ctxd at the Qdrant Service, with Qdrant\'s API key from the same Secret', () => {
    const url = new URL(config.store.qdrant.url);
    const service = named('Service', url.hostname);
    expect(service.spec.ports.map((p: Doc) => p.port)).toContain(Number(url.port));
    const qdrant = named('StatefulSet', 'qdrant').spec.template.spec.containers[0];
    expect(service.spec.selector).toEqual(named('StatefulSet', 'qdrant').spec.template.metadata.labels);
    const apiKey = qdrant.env.find((e: Doc) => e.name === 'QDRANT__SERVICE__API_KEY').valueFrom.secretKeyRef;
    const ctxdKey = ctxd.env.find((e: Doc) => e.name === config.store.qdrant.api_key_env).valueFrom.secretKeyRef;
    expect(apiKey).toEqual(ctxdKey);
  });

  it('runs Qdrant in distributed mode as one cluster: the first pod starts it, the others bootstrap from it', () => {
    const set = named('StatefulSet', 'qdrant');
    const headless = named('Service', set.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.ports.map((p: Doc) => p.port).sort()).toEqual([6333, 6334, 6335]);
    const c = set.spec.template.spec.containers[0];
    expect(c.env.find((e: Doc) => e.name === 'QDRANT__CLUSTER__ENABLED').value).toBe('true');
    const script = c.args.join(' ');
    expect(script).toContain(`--bootstrap "http://${set.metadata.name}-0.${headless.metadata.name}:6335"`);
    expect(script).toContain(`--uri "http://\${POD_NAME}.${headless.metadata.name}:6335"`);
    expect(set.spec.replicas).toBeGreaterThan(1);
    expect(set.spec.volumeClaimTemplates[0].metadata.name).toBe(c.volumeMounts[0].name);
    // ctxd refuses Qdrant older than 1.19 (per-tenant IDF): the image must not be older.
    const [, minor] = /:v1\.(\d+)\./.exec(c.image)!;
    expect(Number(minor)).toBeGreaterThanOrEqual(19);
  });

  it('lets voluntary disruptions take one pod at a time, of ctxd and of Qdrant', () => {
    const pdbs = byKind('PodDisruptionBudget');
    const ctxdPdb = pdbs.find((p) => p.metadata.name === 'ctxd')!;
    expect(ctxdPdb.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(ctxdPdb.spec.maxUnavailable).toBe(1);
    const qdrantPdb = pdbs.find((p) => p.metadata.name === 'qdrant')!;
    expect(qdrantPdb.spec.selector.matchLabels).toEqual(named('StatefulSet', 'qdrant').spec.template.metadata.labels);
  });
});

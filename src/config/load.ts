/**
 * Builds the effective configuration once at start: schema defaults < config
 * file < CTXD_* environment < command-line flags. Validated against the one
 * schema, then deep-frozen. Nothing else in the daemon reads process.env.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

interface Leaf {
  readonly path: readonly string[];
  readonly type: string;
}

function leaves(schema: { properties?: Record<string, unknown> }, prefix: string[] = []): Leaf[] {
  const out: Leaf[] = [];
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const s = sub as { type: string; properties?: Record<string, unknown> };
    if (s.type === 'object') out.push(...leaves(s, [...prefix, name]));
    else out.push({ path: [...prefix, name], type: s.type });
  }
  return out;
}

export const CONFIG_LEAVES: readonly Leaf[] = leaves(configSchema as never);

export function envName(path: readonly string[]): string {
  return 'CTXD_' + path.join('_').toUpperCase();
}

function coerce(raw: string, leaf: Leaf, source: string): unknown {
  const name = leaf.path.join('.');
  if (leaf.type === 'integer') {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`config: ${name} (from ${source}) must be an integer, got ${JSON.stringify(raw)}`);
    return Number(raw);
  }
  if (leaf.type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`config: ${name} (from ${source}) must be a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (leaf.type === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new ConfigError(`config: ${name} (from ${source}) must be true or false, got ${JSON.stringify(raw)}`);
    return raw === 'true';
  }
  return raw;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (next === undefined) node = node[part] = {} as Record<string, unknown>;
    else if (typeof next === 'object' && next !== null && !Array.isArray(next)) node = next as Record<string, unknown>;
    else throw new ConfigError(`config: ${path.join('.')} cannot be set: ${part} is not a section`);
  }
  node[path.at(-1)!] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true, strictTuples: false });
const validate = ajv.compile(configSchema);

export interface ConfigSources {
  /** Path of a JSON config file (`--config FILE`). */
  readonly file?: string | undefined;
  /** The environment to read CTXD_* settings from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Settings from command-line flags, by dotted path ("server.port"). */
  readonly flags?: Readonly<Record<string, string>>;
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`config: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config: ${file} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const raw: Record<string, unknown> = sources.file ? readFile(sources.file) : {};
  const byPath = new Map(CONFIG_LEAVES.map((l) => [l.path.join('.'), l]));
  for (const leaf of CONFIG_LEAVES) {
    const name = envName(leaf.path);
    const value = sources.env?.[name];
    if (value !== undefined && value !== '') setPath(raw, leaf.path, coerce(value, leaf, name));
  }
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    const leaf = byPath.get(path);
    if (!leaf) throw new ConfigError(`config: unknown setting ${path}`);
    setPath(raw, leaf.path, coerce(value, leaf, `flag for ${path}`));
  }
  if (!validate(raw)) {
    const err = validate.errors![0]!;
    const where = err.instancePath.slice(1).replaceAll('/', '.');
    if (err.keyword === 'additionalProperties') {
      const extra = (err.params as { additionalProperty: string }).additionalProperty;
      throw new ConfigError(`config: unknown setting ${where ? `${where}.` : ''}${extra}`);
    }
    throw new ConfigError(`config: ${where || '(root)'} ${err.message ?? 'is invalid'}`);
  }
  const config = raw as unknown as Config;
  checkRelations(config);
  return deepFreeze(config);
}

const SUM_TOLERANCE = 1e-6;

/** Rules between settings that a per-field schema cannot say. */
function checkRelations(c: Config): void {
  const r = c.retrieval;
  const shares = r.share_l1 + r.share_l2 + r.share_l3;
  if (Math.abs(shares - 1) > SUM_TOLERANCE) {
    throw new ConfigError(`config: retrieval.share_l1 + share_l2 + share_l3 must sum to 1, got ${+shares.toFixed(6)}`);
  }
  const weights = r.weight_similarity + r.weight_recency + r.weight_level + r.weight_frequency;
  if (Math.abs(weights - 1) > SUM_TOLERANCE) {
    throw new ConfigError(`config: retrieval.weight_similarity + weight_recency + weight_level + weight_frequency must sum to 1, got ${+weights.toFixed(6)}`);
  }
  if (r.max_tokens > r.max_tokens_limit) {
    throw new ConfigError(`config: retrieval.max_tokens (${r.max_tokens}) exceeds retrieval.max_tokens_limit (${r.max_tokens_limit})`);
  }
  const t = c.tls;
  if (Boolean(t.cert_file) !== Boolean(t.key_file)) throw new ConfigError('config: tls.cert_file and tls.key_file go together: set both to serve TLS, or neither');
  if (t.client_auth !== 'none' && !t.cert_file) throw new ConfigError(`config: tls.client_auth ${t.client_auth} needs TLS: set tls.cert_file and tls.key_file`);
  if (t.client_auth !== 'none' && !t.ca_file) throw new ConfigError(`config: tls.client_auth ${t.client_auth} needs tls.ca_file, the CA client certificates chain to`);
  if (c.encryption.key_file && c.encryption.key_env) throw new ConfigError('config: set one of encryption.key_file and encryption.key_env, not both');
  const o = c.embedder.openai;
  if (c.embedder.kind === 'openai') {
    if (!o.base_url) throw new ConfigError('config: embedder.openai.base_url is required when embedder.kind is openai');
    let url: URL;
    try {
      url = new URL(o.base_url);
    } catch {
      throw new ConfigError('config: embedder.openai.base_url is not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`config: embedder.openai.base_url must be http(s), got ${url.protocol}`);
    // Credentials go in the environment variable api_key_env names, never in the URL (which is logged and printed).
    if (url.username || url.password || url.search) throw new ConfigError('config: embedder.openai.base_url must not carry credentials or a query string; put the key in the variable embedder.openai.api_key_env names');
    if (!o.model) throw new ConfigError('config: embedder.openai.model is required when embedder.kind is openai');
    if (o.dims < 8 || o.dims % 4 !== 0) throw new ConfigError(`config: embedder.openai.dims must be the model's dimensions (a multiple of 4, at least 8), got ${o.dims}`);
  }
  if (c.store.backend === 'qdrant') checkQdrant(c);
}

function checkQdrant(c: Config): void {
  const q = c.store.qdrant;
  if (!q.url) throw new ConfigError('config: store.qdrant.url is required when store.backend is qdrant');
  let url: URL;
  try {
    url = new URL(q.url);
  } catch {
    throw new ConfigError('config: store.qdrant.url is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`config: store.qdrant.url must be http(s), got ${url.protocol}`);
  // The key goes in the variable api_key_env names, never in the URL (which is logged).
  if (url.username || url.password || url.search) throw new ConfigError('config: store.qdrant.url must not carry credentials or a query string; put the API key in the variable store.qdrant.api_key_env names');
  if (!q.tls_verify) {
    throw new ConfigError('config: store.qdrant.tls_verify false is refused: the Qdrant client cannot skip certificate checks for its own connections without skipping them for the whole process; trust the server\'s CA with store.qdrant.tls_ca_file instead');
  }
  if (q.tls_ca_file && url.protocol !== 'https:') throw new ConfigError('config: store.qdrant.tls_ca_file is set but store.qdrant.url is not https');
  if (q.write_consistency_factor > q.replication_factor) {
    throw new ConfigError(`config: store.qdrant.write_consistency_factor (${q.write_consistency_factor}) exceeds store.qdrant.replication_factor (${q.replication_factor})`);
  }
  if (q.breaker_reset_ms <= q.timeout_ms) {
    throw new ConfigError(`config: store.qdrant.breaker_reset_ms (${q.breaker_reset_ms}) must exceed store.qdrant.timeout_ms (${q.timeout_ms}), so calls admitted before the breaker opened have settled when it half-opens`);
  }
  if (c.encryption.key_file || c.encryption.key_env) {
    throw new ConfigError('config: encryption at rest seals the embedded store only; with store.backend qdrant, use Qdrant\'s disk encryption and TLS (PRODUCTION.md "Scaling out")');
  }
}

/** The defaults alone, as config/default.json holds them. */
export function defaultConfig(): Config {
  return loadConfig({});
}

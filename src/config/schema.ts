/**
 * The one configuration schema: every setting, its type, unit and default.
 * Units are in the names (_ms, _s, _bytes). config/default.json mirrors the
 * defaults (a unit test keeps them equal); README "Configuration" explains them.
 */
import { TENANT_PATTERN_SOURCE } from '../domain/tenant.ts';

const int = (def: number, min: number, max: number, description: string) =>
  ({ type: 'integer', default: def, minimum: min, maximum: max, description }) as const;
const num = (def: number, min: number, max: number, description: string) =>
  ({ type: 'number', default: def, minimum: min, maximum: max, description }) as const;
const str = (def: string, description: string, extra: Record<string, unknown> = {}) =>
  ({ type: 'string', default: def, description, ...extra }) as const;
const section = (properties: Record<string, unknown>) =>
  ({ type: 'object', additionalProperties: false, default: {}, properties }) as const;

const MiB = 1024 * 1024;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    data_dir: str('./data', 'Directory for the embedded store and the generated keyring.'),
    server: section({
      host: str('127.0.0.1', 'Interface the TCP protocol listener binds (0.0.0.0 for all).'),
      port: int(7411, 0, 65535, 'TCP port of the protocol listener; 0 picks a free one.'),
      max_connections: int(1024, 1, 1_000_000, 'Open connections beyond this are refused with OVERLOADED (the oldest connection that has not authenticated yet is closed first to make room).'),
      max_connections_per_key: int(256, 1, 1_000_000, 'Authenticated connections one key may hold open; a connection past it is closed with OVERLOADED when its first frame verifies, so one key cannot take every slot of max_connections.'),
      max_unauthenticated_connections: int(256, 1, 1_000_000, 'Connections that have not yet sent a verified frame; past it the oldest of them is closed, so silent sockets cannot take the slots of real clients.'),
      handshake_timeout_ms: int(5_000, 100, 600_000, 'A connection must send a frame that verifies within this, or it is closed.'),
      preauth_max_frame_bytes: int(64 * 1024, 256, 256 * MiB, 'Largest first frame of a connection: nothing larger is buffered before a key has been checked.'),
      preauth_buffered_bytes: int(16 * MiB, 1024, 64 * 1024 * MiB, 'Global cap on bytes held for incomplete frames of connections that have not authenticated yet.'),
      max_inflight_per_connection: int(64, 1, 65536, 'Requests a connection may have in flight; beyond it the socket is not read until answers drain.'),
      max_buffered_bytes: int(256 * MiB, 1024, 64 * 1024 * MiB, 'Global cap on bytes held for incomplete frames of authenticated connections.'),
      answer_queue_bytes_per_connection: int(8 * MiB, 64 * 1024, 64 * 1024 * MiB, 'Answer bytes a connection may have queued or reserved for requests in flight; beyond it no more of its requests are started until the peer reads.'),
      answer_queue_bytes_total: int(256 * MiB, 64 * 1024, 64 * 1024 * MiB, 'The same bound across all connections.'),
      idle_timeout_ms: int(300_000, 0, 86_400_000, 'A connection with no traffic and nothing in flight is closed after this (0 = never).'),
      frame_deadline_ms: int(10_000, 10, 3_600_000, 'A frame that has started must complete within this, or the connection is closed.'),
      shutdown_deadline_ms: int(10_000, 0, 600_000, 'On SIGTERM, in-flight requests get this long to finish.'),
      rate_limit_rps: num(5_000, 0, 10_000_000, 'Requests a second allowed per key on average (0 = no limit).'),
      rate_limit_burst: int(10_000, 1, 10_000_000, 'Requests a key may send at once before rate_limit_rps applies.'),
    }),
    protocol: section({
      max_frame_bytes: int(4 * MiB, 256, 256 * MiB, 'Largest `len` accepted; larger frames are refused before their body is read.'),
      max_skew_ms: int(30_000, 1000, 3_600_000, 'A request `ts` further than this from the server clock is STALE_TIMESTAMP.'),
      replay_max_ids_per_key: int(500_000, 1000, 100_000_000, 'Request ids remembered per key for replay detection; beyond it that key (only) gets OVERLOADED rather than risk a replay.'),
    }),
    http: section({
      host: str('0.0.0.0', 'Interface of the side HTTP server (probes, metrics).'),
      port: int(7412, 0, 65535, 'Port of the side HTTP server; 0 picks a free one.'),
    }),
    store: section({
      backend: str('embedded', 'Where contexts live: embedded (SQLite in data_dir, one machine) or qdrant (a Qdrant cluster shared by stateless replicas; PRODUCTION.md "Scaling out").', { enum: ['embedded', 'qdrant'] }),
      durability: str('strict', 'strict: every committed group is fsynced; relaxed: survives a process crash, not power loss.', { enum: ['strict', 'relaxed'] }),
      max_db_bytes: int(0, 0, Number.MAX_SAFE_INTEGER, 'Cap on the database file size (0 = none); writes beyond it fail as on a full disk (UNAVAILABLE).'),
      backup_dir: str('', 'Directory the backup op writes online copies into, on the daemon\'s host; empty means <data_dir>/backups.'),
      ann_threshold: int(16_384, 1, 1_000_000_000, 'A (tenant, level) with at least this many contexts is searched through an HNSW graph; below it, exactly.'),
      ann_connectivity: int(16, 4, 128, 'HNSW edges per node (M).'),
      ann_expansion_add: int(128, 8, 4096, 'HNSW candidate list size while inserting (efConstruction).'),
      ann_expansion_search: int(128, 8, 4096, 'HNSW candidate list size while searching (ef).'),
      ann_expansion_dedup: int(32, 8, 4096, 'HNSW candidate list size of a search for at most 4 neighbours: a store\'s duplicate check, which needs only its nearest one.'),
      text_cache_bytes: int(64 * MiB, 0, Number.MAX_SAFE_INTEGER, 'Memory for texts of recently stored or read contexts (embedded store), so a retrieve reads fewer from SQLite; 0: none. Not used with encryption at rest.'),
      qdrant: section({
        url: str('', 'Base URL of the Qdrant REST API (http:// or https://), e.g. http://qdrant:6333; required with backend qdrant.'),
        api_key_env: str('', 'Name of an environment variable holding the Qdrant API key (never logged); empty: no key.'),
        collection: str('ctxd_contexts', 'Collection holding every tenant\'s contexts (one collection, tenants by an is_tenant payload index).', { pattern: '^[A-Za-z0-9_-]{1,128}$' }),
        tls_ca_file: str('', 'PEM CA bundle that an https url\'s certificate must chain to, added to the process\'s trusted CAs at start (as NODE_EXTRA_CA_CERTS would).'),
        tls_verify: { type: 'boolean', default: true, description: 'Verify the server certificate of an https url. false is refused at start: the client cannot turn checks off for its own connections without turning them off for the whole process.' },
        timeout_ms: int(5_000, 10, 600_000, 'Deadline of one Qdrant request; a later answer counts as a failure.'),
        max_connections: int(32, 1, 1024, 'Keep-alive HTTP connections to Qdrant.'),
        shard_number: int(1, 1, 1024, 'Shards of the collection when ctxd creates it.'),
        replication_factor: int(1, 1, 64, 'Copies of each shard when ctxd creates the collection.'),
        write_consistency_factor: int(1, 1, 64, 'Replicas that must confirm a write before it is acknowledged (when ctxd creates the collection).'),
        on_disk_vectors: { type: 'boolean', default: false, description: 'Keep dense vectors on disk (memory-mapped) when ctxd creates the collection.' },
        on_disk_payload: { type: 'boolean', default: false, description: 'Keep payloads on disk when ctxd creates the collection.' },
        usage_refresh_s: int(60, 1, 86_400, 'How often a replica re-reads each active tenant\'s usage (contexts, text bytes) for quotas; between reads its own writes are added.'),
        breaker_error_percentage: int(50, 1, 100, 'Failing share of Qdrant calls in the rolling window that opens the breaker.'),
        breaker_volume_threshold: int(5, 1, 1_000_000, 'Calls in the window before the breaker may open.'),
        breaker_reset_ms: int(10_000, 10, 3_600_000, 'Time the breaker stays open before one trial call (half-open); keep it above timeout_ms.'),
        breaker_window_ms: int(10_000, 100, 3_600_000, 'Length of the rolling window the failing share is measured over.'),
        recent_l1_max_bytes: int(64 * MiB, 0, Number.MAX_SAFE_INTEGER, 'Memory for the L1 turns this replica stored recently (lru by session: texts, vectors, metadata), from which a retrieve still answers while Qdrant is unreachable (degraded ["store"]); 0: none.'),
      }),
    }),
    engine: section({
      l1_max_items: int(32, 1, 100_000, 'Contexts per session in L1; the oldest beyond it moves to L2.'),
      l2_ttl_s: int(86_400, 1, 315_360_000, 'Default time to live of an L2 context, in seconds.'),
      gc_interval_s: num(60, 0.05, 86_400, 'Seconds between garbage collection passes.'),
      gc_batch_size: int(500, 1, 100_000, 'Contexts deleted or promoted per step; the event loop turns between steps.'),
      promote_after: int(3, 1, 1_000_000, 'An L2 context retrieved at least this many times is promoted to L3 by GC instead of expiring.'),
      dedup_threshold: num(0.97, 0, 1.01, 'Cosine at or above which a stored text refreshes an existing context instead of adding a copy (above 1 disables).'),
      access_flush_ms: int(5_000, 1, 60_000, 'Access counts of retrieved contexts are written in one batch this often (ms): a longer window adds up repeated hits of one context into one row write.'),
      max_text_bytes: int(256 * 1024, 1, 64 * MiB, 'Largest text of one context, in UTF-8 bytes.'),
      max_metadata_bytes: int(16 * 1024, 2, MiB, 'Largest metadata map of one context, as JSON bytes.'),
    }),
    retrieval: section({
      max_tokens: int(2000, 1, 10_000_000, 'Budget of a retrieve that names none.'),
      max_tokens_limit: int(200_000, 1, 10_000_000, 'Largest budget a retrieve may ask for.'),
      lexical_weight: num(0.5, 0, 1, 'Weight w of the lexical channel (BM25, 0..1) in the fused relevance 1 − (1 − cosine) × (1 − w × lexical).'),
      candidates_per_level: int(100, 1, 10_000, 'Most similar contexts each level considers before ranking and budgeting.'),
      share_l1: num(0.3, 0, 1, 'Share of the budget first given to L1.'),
      share_l2: num(0.4, 0, 1, 'Share of the budget first given to L2.'),
      share_l3: num(0.3, 0, 1, 'Share of the budget first given to L3.'),
      weight_similarity: num(0.5, 0, 1, 'Weight of the fused relevance (dense + lexical) in the score.'),
      weight_recency: num(0.2, 0, 1, 'Weight of recency (exponential decay) in the score.'),
      weight_level: num(0.2, 0, 1, 'Weight of the level in the score.'),
      weight_frequency: num(0.1, 0, 1, 'Weight of access frequency (log-scaled) in the score.'),
      level_value_l1: num(1.0, 0, 1, 'Level value of L1 contexts (times weight_level).'),
      level_value_l2: num(0.7, 0, 1, 'Level value of L2 contexts.'),
      level_value_l3: num(0.5, 0, 1, 'Level value of L3 contexts.'),
      recency_half_life_s: num(86_400, 1, 315_360_000, 'Age at which the recency value halves, in seconds.'),
      frequency_saturation: int(100, 1, 1_000_000_000, 'Access count at which the frequency value reaches 1.'),
    }),
    embedder: section({
      kind: str('local', 'local: a sentence encoder (Universal Sentence Encoder lite) run offline in worker threads; openai: an OpenAI-compatible /v1/embeddings endpoint; hash: lexical feature hashing (tests, keyword-only).', { enum: ['local', 'openai', 'hash'] }),
      tokenizer: str('o200k_base', 'BPE encoding used for exact token counts.', { enum: ['o200k_base', 'cl100k_base'] }),
      query_cache_size: int(10_000, 1, 10_000_000, 'Query embeddings kept in the LRU cache.'),
      store_deadline_ms: int(25_000, 100, 600_000, "How long a stored text may take to embed, from its arrival, queueing included; past it the store fails with UNAVAILABLE and nothing is written. Keep it below your clients' request timeout (the TS client's default is 30 s), so a client never re-sends while the daemon still works on it."),
      local: section({
        threads: int(0, 0, 256, 'Worker threads running the model, one model copy (~180 MB) each (0 = cores − 1, from 1 to 4: one core stays with the event loop).'),
        batch_size: int(16, 1, 1024, 'Most texts per model call; concurrent stores are micro-batched up to it.'),
        min_relevance: num(0.4, 0, 1, 'Relevance floor: contexts whose fused relevance is below it are not returned (bench/quality.md shows what each floor separates).'),
      }),
      hash: section({
        dims: { ...int(384, 8, 4096, 'Embedding dimensions, a multiple of 4.'), multipleOf: 4 },
        min_relevance: num(0.15, 0, 1, 'Relevance floor (unrelated texts score up to ~0.15 with feature hashing at 384 dims: its p99 noise).'),
      }),
      openai: section({
        base_url: str('', 'Base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 (Ollama).'),
        model: str('', 'Model name sent with each request, e.g. text-embedding-3-small.'),
        dims: int(0, 0, 65_536, 'Dimensions the model returns (required): a vector of another length is an error, never stored.'),
        api_key_env: str('OPENAI_API_KEY', 'Name of the environment variable holding the API key (never logged; unset means no Authorization header).'),
        batch_size: int(64, 1, 2048, 'Most texts per HTTP request.'),
        max_input_chars: int(8_000, 100, 1_000_000, 'Longest input sent to the model; longer texts are embedded in windows of this size, averaged (~2,000 tokens of English by default).'),
        concurrency: int(4, 1, 256, 'HTTP requests in flight at once.'),
        timeout_ms: int(10_000, 100, 600_000, 'Timeout of each HTTP attempt.'),
        max_retries: int(5, 0, 100, 'Retries of a failed attempt (network error, timeout, 408, 409, 429, 5xx), with exponential backoff and ±25 % jitter.'),
        retry_base_ms: int(200, 1, 60_000, 'First retry delay; doubles per retry.'),
        retry_max_delay_ms: int(30_000, 1, 600_000, 'Cap on one retry delay, Retry-After included.'),
        min_relevance: num(0.3, 0, 1, 'Relevance floor for this embedder.'),
        breaker_error_percentage: int(50, 1, 100, 'Failing share of attempts in the rolling window that opens the breaker.'),
        breaker_volume_threshold: int(5, 1, 1_000_000, 'Attempts in the window before the breaker may open.'),
        breaker_reset_ms: int(10_000, 10, 3_600_000, 'Time the breaker stays open before one trial attempt (half-open).'),
        breaker_window_ms: int(10_000, 100, 3_600_000, 'Length of the rolling window the failing share is measured over.'),
      }),
    }),
    workers: section({
      max_threads: int(2, 1, 256, 'Worker threads for tokenising and embedding.'),
      offload_min_chars: int(4 * 1024, 0, 1_000_000_000, 'Inputs of at least this many characters in total are processed in a worker thread.'),
    }),
    quotas: section({
      max_contexts: int(0, 0, Number.MAX_SAFE_INTEGER, 'Contexts one tenant may hold (0 = no quota); a store beyond it is QUOTA_EXCEEDED.'),
      max_text_bytes: int(0, 0, Number.MAX_SAFE_INTEGER, 'Bytes of context text one tenant may hold (0 = no quota).'),
      tenants: {
        type: 'object',
        default: {},
        description: 'Per-tenant quotas by tenant name, overriding the two above: { "<tenant>": { "max_contexts": n, "max_text_bytes": n } } (0 = none).',
        propertyNames: { pattern: TENANT_PATTERN_SOURCE },
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          properties: { max_contexts: { type: 'integer', minimum: 0 }, max_text_bytes: { type: 'integer', minimum: 0 } },
        },
      },
    }),
    debug: section({
      enable_ops: { type: 'boolean', default: false, description: 'Registers the admin-only debug_hold op (PROTOCOL.md §7.10), for tests that need a request held in flight. Never in production.' },
    }),
    session: section({
      idle_ttl_s: int(86_400, 0, 315_360_000, 'A session whose L1 turns are all older than this is ended by GC (0 = never): its L1 moves to L2 or is dropped (on_idle).'),
      on_idle: str('move', 'What ending an idle session does with its L1: move (to L2, with the L2 TTL) or drop.', { enum: ['move', 'drop'] }),
    }),
    audit: section({
      file: str('', 'Audit trail (JSON lines: deletes, exports, imports, purges, backups, key changes, authentication failures per address and minute; never texts); empty means <data_dir>/audit.log, "off" disables it.'),
      max_bytes: int(64 * MiB, 4096, Number.MAX_SAFE_INTEGER, 'Size at which the audit file is rotated (file.1 is the newest old one).'),
      keep: int(5, 0, 1000, 'Rotated audit files kept.'),
    }),
    tls: section({
      cert_file: str('', 'PEM certificate (chain) of the agent port; set with key_file to serve TLS only (PROTOCOL.md §1). Reloaded when the file changes.'),
      key_file: str('', 'PEM private key of cert_file.'),
      ca_file: str('', 'PEM CA bundle client certificates must chain to (mTLS).'),
      client_auth: str('none', 'none: no client certificate; require: a client certificate that chains to ca_file; tenant: as require, and the certificate\'s subject CN names the only tenant its connection may act for (a frame signed by another tenant\'s key is FORBIDDEN).', { enum: ['none', 'require', 'tenant'] }),
      min_version: str('TLSv1.2', 'Oldest TLS version accepted.', { enum: ['TLSv1.2', 'TLSv1.3'] }),
    }),
    encryption: section({
      key_file: str('', 'JSON document of data keys ({"active": id, "keys": [{"id", "key": 64 hex digits}]}) that seal context text, metadata, tags, sessions and vectors at rest with AES-256-GCM. Read at start and again by each rekey. Empty (with key_env empty): stored in the clear.'),
      key_env: str('', 'Name of an environment variable holding that JSON document instead of a file (e.g. from a Kubernetes Secret); never logged.'),
    }),
    auth: section({
      keyring_file: str('', 'Keyring JSON file; empty means <data_dir>/keys.json.'),
    }),
    log: section({
      level: str('info', 'Log level.', { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }),
      slow_request_ms: int(1000, 0, 3_600_000, 'A request answered after this long is logged at info with its duration (faster ones at debug).'),
    }),
  },
} as const;

/** The validated, frozen configuration the daemon runs with. */
export interface Config {
  readonly data_dir: string;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly max_connections: number;
    readonly max_connections_per_key: number;
    readonly max_unauthenticated_connections: number;
    readonly handshake_timeout_ms: number;
    readonly preauth_max_frame_bytes: number;
    readonly preauth_buffered_bytes: number;
    readonly answer_queue_bytes_per_connection: number;
    readonly answer_queue_bytes_total: number;
    readonly max_inflight_per_connection: number;
    readonly max_buffered_bytes: number;
    readonly idle_timeout_ms: number;
    readonly frame_deadline_ms: number;
    readonly shutdown_deadline_ms: number;
    readonly rate_limit_rps: number;
    readonly rate_limit_burst: number;
  };
  readonly protocol: {
    readonly max_frame_bytes: number;
    readonly max_skew_ms: number;
    readonly replay_max_ids_per_key: number;
  };
  readonly http: { readonly host: string; readonly port: number };
  readonly store: {
    readonly backend: 'embedded' | 'qdrant';
    readonly durability: 'strict' | 'relaxed';
    readonly max_db_bytes: number;
    readonly backup_dir: string;
    readonly ann_threshold: number;
    readonly ann_connectivity: number;
    readonly ann_expansion_add: number;
    readonly ann_expansion_search: number;
    readonly ann_expansion_dedup: number;
    readonly text_cache_bytes: number;
    readonly qdrant: {
      readonly url: string;
      readonly api_key_env: string;
      readonly collection: string;
      readonly tls_ca_file: string;
      readonly tls_verify: boolean;
      readonly timeout_ms: number;
      readonly max_connections: number;
      readonly shard_number: number;
      readonly replication_factor: number;
      readonly write_consistency_factor: number;
      readonly on_disk_vectors: boolean;
      readonly on_disk_payload: boolean;
      readonly usage_refresh_s: number;
      readonly breaker_error_percentage: number;
      readonly breaker_volume_threshold: number;
      readonly breaker_reset_ms: number;
      readonly breaker_window_ms: number;
      readonly recent_l1_max_bytes: number;
    };
  };
  readonly engine: {
    readonly l1_max_items: number;
    readonly l2_ttl_s: number;
    readonly gc_interval_s: number;
    readonly gc_batch_size: number;
    readonly promote_after: number;
    readonly dedup_threshold: number;
    readonly access_flush_ms: number;
    readonly max_text_bytes: number;
    readonly max_metadata_bytes: number;
  };
  readonly retrieval: {
    readonly max_tokens: number;
    readonly max_tokens_limit: number;
    readonly lexical_weight: number;
    readonly candidates_per_level: number;
    readonly share_l1: number;
    readonly share_l2: number;
    readonly share_l3: number;
    readonly weight_similarity: number;
    readonly weight_recency: number;
    readonly weight_level: number;
    readonly weight_frequency: number;
    readonly level_value_l1: number;
    readonly level_value_l2: number;
    readonly level_value_l3: number;
    readonly recency_half_life_s: number;
    readonly frequency_saturation: number;
  };
  readonly embedder: {
    readonly kind: 'local' | 'openai' | 'hash';
    readonly tokenizer: 'o200k_base' | 'cl100k_base';
    readonly query_cache_size: number;
    readonly store_deadline_ms: number;
    readonly local: { readonly threads: number; readonly batch_size: number; readonly min_relevance: number };
    readonly hash: { readonly dims: number; readonly min_relevance: number };
    readonly openai: {
      readonly base_url: string;
      readonly model: string;
      readonly dims: number;
      readonly api_key_env: string;
      readonly batch_size: number;
      readonly max_input_chars: number;
      readonly concurrency: number;
      readonly timeout_ms: number;
      readonly max_retries: number;
      readonly retry_base_ms: number;
      readonly retry_max_delay_ms: number;
      readonly min_relevance: number;
      readonly breaker_error_percentage: number;
      readonly breaker_volume_threshold: number;
      readonly breaker_reset_ms: number;
      readonly breaker_window_ms: number;
    };
  };
  readonly workers: { readonly max_threads: number; readonly offload_min_chars: number };
  readonly quotas: {
    readonly max_contexts: number;
    readonly max_text_bytes: number;
    readonly tenants: Readonly<Record<string, { readonly max_contexts?: number; readonly max_text_bytes?: number }>>;
  };
  readonly debug: { readonly enable_ops: boolean };
  readonly session: { readonly idle_ttl_s: number; readonly on_idle: 'move' | 'drop' };
  readonly audit: { readonly file: string; readonly max_bytes: number; readonly keep: number };
  readonly tls: {
    readonly cert_file: string;
    readonly key_file: string;
    readonly ca_file: string;
    readonly client_auth: 'none' | 'require' | 'tenant';
    readonly min_version: 'TLSv1.2' | 'TLSv1.3';
  };
  readonly encryption: { readonly key_file: string; readonly key_env: string };
  readonly auth: { readonly keyring_file: string };
  readonly log: { readonly level: string; readonly slow_request_ms: number };
}

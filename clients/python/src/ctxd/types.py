"""Request and answer shapes (PROTOCOL.md §7; src/protocol/ops/requests.ts and answers.ts).

TypedDicts: at run time every answer is a plain dict exactly as decoded from
the wire. Integers (ts, counts) are ints, times are milliseconds.
"""
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

Level = Literal[1, 2, 3]
Role = Literal["agent", "admin"]

__all__ = [
    "EndSessionAnswer",
    "SessionSummary",
    "SessionsPage",
    "Level",
    "Role",
    "WireError",
    "ItemError",
    "Limits",
    "Hello",
    "Context",
    "ScoreParts",
    "Relevance",
    "RetrievedContext",
    "LevelReceipt",
    "RetrieveAnswer",
    "StoreItem",
    "StoreResult",
    "StoreBatchAnswer",
    "Deleted",
    "ListPage",
    "Stats",
    "ExportedContext",
    "ExportPage",
    "ImportResult",
    "ImportAnswer",
    "PurgeAnswer",
    "BackupAnswer",
    "RekeyAnswer",
    "HeldAnswer",
]


class _WireErrorBase(TypedDict):
    code: str
    message: str
    retryable: bool


class WireError(_WireErrorBase, total=False):
    """The `error` map of a failed answer or a failed batch item (§4.2)."""

    retry_after_ms: int
    details: Any


class ItemError(TypedDict):
    """One failed item of store_batch or import."""

    error: WireError


class Limits(TypedDict):
    max_frame_bytes: int
    max_inflight_per_connection: int
    max_skew_ms: int
    max_id_bytes: int
    idle_timeout_ms: int
    frame_deadline_ms: int
    handshake_timeout_ms: int
    preauth_max_frame_bytes: int
    max_depth: int
    max_map_keys: int
    max_elements: int
    rate_limit_rps: int
    rate_limit_burst: int
    replay_max_ids_per_key: int
    answer_queue_bytes_per_connection: int


class Hello(TypedDict):
    """The answer to `hello` (§7.1)."""

    server: str
    version: str
    protocol: int
    max_frame_bytes: int
    kid: str
    tenant: str
    role: Role
    limits: Limits
    ops: List[str]


class Context(TypedDict):
    """A context as the wire shows it (§7.3)."""

    id: str
    level: Level
    text: str
    tokens: int
    ts: int
    created_ts: int
    expires_at: Optional[int]
    session: str
    agent: Optional[str]
    tags: List[str]
    metadata: Dict[str, Any]
    access_count: int
    version: int


class ScoreParts(TypedDict):
    similarity: float
    recency: float
    level: float
    frequency: float


class Relevance(TypedDict):
    dense: float
    lexical: float


class RetrievedContext(Context):
    """A retrieved context: the context, its score and the parts summing to it, its relevance (§7.5)."""

    score: float
    score_parts: ScoreParts
    similarity: float
    relevance: Relevance


class LevelReceipt(TypedDict):
    allocated: int
    used: int
    candidates: int
    omitted: int


class RetrieveAnswer(TypedDict):
    contexts: List[RetrievedContext]
    total_tokens: int
    #: Keyed "1", "2", "3": only the levels searched.
    levels: Dict[str, LevelReceipt]
    set_id: str
    degraded: List[str]
    took_ms: float


class _StoreItemBase(TypedDict):
    text: str
    level: Level


class StoreItem(_StoreItemBase, total=False):
    """One item of store_batch: the body of a store (§7.4)."""

    session: str
    agent: str
    tags: List[str]
    metadata: Dict[str, Any]
    ttl_s: int


class StoreResult(TypedDict):
    id: str
    level: Level
    tokens: int
    deduplicated: bool


class StoreBatchAnswer(TypedDict):
    results: List[Union[StoreResult, ItemError]]


class Deleted(TypedDict):
    deleted: int


class ListPage(TypedDict):
    items: List[Context]
    next_cursor: Optional[str]
    truncated: bool


class Stats(TypedDict):
    tenant: str
    #: Live contexts per level, keyed "1", "2", "3".
    levels: Dict[str, int]
    total: int
    text_bytes: int
    sessions: int


class ExportedContext(Context, total=False):
    """A context as export writes it and import reads it: with its tenant, and its vector when asked for."""

    tenant: str
    #: base64 of little-endian float32s.
    vector: str


class _ExportPageBase(TypedDict):
    items: List[ExportedContext]
    next_cursor: Optional[str]


class ExportPage(_ExportPageBase, total=False):
    #: The embedder identity (kind:model:dims) of every vector in the page (§5.1).
    vector_space: str


class ImportResult(TypedDict):
    id: str
    #: inserted, replaced (an older version), kept (the same or a newer version is stored).
    status: str


class _ImportAnswerBase(TypedDict):
    results: List[Union[ImportResult, ItemError]]


class ImportAnswer(_ImportAnswerBase, total=False):
    #: Items whose vector was made again (missing, or of another embedder).
    reembedded: int


class EndSessionAnswer(TypedDict):
    session: str
    #: L1 contexts moved to L2, or deleted.
    moved: int
    dropped: int


class SessionSummary(TypedDict):
    session: str
    l1: int
    l2: int
    #: The latest ts among its L1 and L2 contexts (ms).
    last_ts: int


class SessionsPage(TypedDict):
    sessions: List[SessionSummary]
    next_cursor: Optional[str]


class PurgeAnswer(TypedDict, total=False):
    tenant: str
    contexts: int
    replay_ids: int


class _BackupAnswerBase(TypedDict):
    path: str
    bytes: int
    sha256: str


class BackupAnswer(_BackupAnswerBase, total=False):
    took_ms: float


class RekeyAnswer(TypedDict):
    """One step of `rekey` (§7.15): rows re-sealed with the active data key."""

    #: The data key new writes are sealed with, and this step re-sealed rows with.
    active_kid: str
    resealed: int
    #: Rows of this step that do not open with any data key (quarantined at load) and stay as they are.
    unreadable: int
    #: Rows of this step that did not open and were deleted (drop_unreadable=True).
    dropped: int
    #: Rows, over the whole store, still not sealed with the active key after this step.
    remaining: int
    #: Where the next step starts; None when this step reached the end of a pass.
    next_cursor: Optional[str]
    #: At a pass's end: the data file still waits to be rebuilt (VACUUM) so that older bytes leave the disk.
    compact_pending: bool
    #: Why the last rebuild failed, or None.
    compact_error: Optional[str]


class HeldAnswer(TypedDict):
    held_ms: int

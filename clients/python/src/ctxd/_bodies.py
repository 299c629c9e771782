"""Request bodies shared by the sync and asyncio clients."""
from typing import Any, Dict, Iterator, List, Optional, Sequence

import msgpack


#: Most items one store_batch, export page or import request carries (§7.4, §7.11).
MAX_ITEMS = 1000
#: Room left in an import request for everything but its items.
_ENVELOPE_BYTES = 64 * 1024
#: The protocol's default max_frame_bytes, until hello says otherwise.
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024


class _Unset:
    """Not given (where None means something: update's ttl_s=None removes the expiry)."""

    _instance = None

    def __new__(cls) -> "_Unset":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


def body(**fields: Any) -> Dict[str, Any]:
    """The fields that were given: None (and UNSET) mean "leave out"."""
    return {k: v for k, v in fields.items() if v is not None and v is not UNSET}


def update_body(id: str, text: Any, metadata: Any, tags: Any, level: Any, ttl_s: Any, tenant: Any) -> Dict[str, Any]:
    b = body(id=id, text=text, metadata=metadata, tags=tags, level=level, tenant=tenant)
    if ttl_s is not UNSET:
        b["ttl_s"] = ttl_s  # None removes the expiry (§7.6)
    return b


def export_body(tenant: Optional[str], session: Optional[str], level: Optional[int], cursor: Optional[str], limit: Optional[int], vectors: bool, all_tenants: bool) -> Dict[str, Any]:
    b = body(tenant=tenant, session=session, level=level, cursor=cursor, limit=limit)
    if vectors:
        b["vectors"] = True
    if all_tenants:
        b["all_tenants"] = True
    return b


def import_chunks(items: Sequence[Any], max_frame_bytes: Optional[int]) -> Iterator[List[Any]]:
    """Splits items into requests of at most MAX_ITEMS items that fit the server's max_frame_bytes.

    An item too big on its own goes alone (and is refused as FRAME_TOO_LARGE before it is sent).
    """
    room = (max_frame_bytes or DEFAULT_MAX_FRAME_BYTES) - _ENVELOPE_BYTES
    chunk: List[Any] = []
    size = 0
    for item in items:  # already checked against the value model
        n = len(msgpack.packb(item, use_bin_type=True))
        if chunk and (len(chunk) >= MAX_ITEMS or size + n > room):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk


def shift_item_errors(results: List[Any], offset: int) -> List[Any]:
    """Rewrites `body.items.<i>` in per-item errors of a chunk to the index in the whole list."""
    if offset == 0:
        return results
    for r in results:
        error = r.get("error") if isinstance(r, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        if not isinstance(details, dict):
            continue
        field = details.get("field")
        if isinstance(field, str) and field.startswith("body.items."):
            rest = field[len("body.items."):]
            index, dot, tail = rest.partition(".")
            if index.isdigit():
                details["field"] = "body.items.%d%s%s" % (int(index) + offset, dot, tail)
    return results


def merge_import_answers(answers: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One answer for a chunked import: results concatenated in order, counts summed."""
    if len(answers) == 1:
        return answers[0]
    merged: Dict[str, Any] = {"results": []}
    for a in answers:
        for k, v in a.items():
            if k == "results":
                merged["results"].extend(v)
            elif isinstance(v, int) and not isinstance(v, bool):
                merged[k] = merged.get(k, 0) + v
            else:
                merged.setdefault(k, v)
    return merged

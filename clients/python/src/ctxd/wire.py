"""Frames, tags and the wire value model (PROTOCOL.md §2, §3).

    len:u32 | ver:u8 = 1 | kid_len:u8 | kid | body (one MessagePack map) | tag: HMAC-SHA256 of all before it

Used by the clients; public so tests and tools can build or read frames.
"""
import hashlib
import hmac
import math
import re
import struct
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import msgpack

__all__ = [
    "PROTOCOL_VERSION",
    "TAG_BYTES",
    "MAX_SAFE_INTEGER",
    "Frame",
    "FrameError",
    "FrameDecoder",
    "ValueModelError",
    "check_value",
    "encode_frame",
    "decode_body",
    "sign",
    "verify",
]

PROTOCOL_VERSION = 1
TAG_BYTES = 32
MAX_KID_BYTES = 64
#: Integers travel within ±(2^53 − 1) (§3.1).
MAX_SAFE_INTEGER = 2 ** 53 - 1
#: Request limits of §3.1 (hello reports the server's own).
MAX_DEPTH = 32
MAX_MAP_KEYS = 1024
MAX_ELEMENTS = 1_000_000
#: Answers nest contexts' metadata deeper than a request can (§3.1).
MAX_ANSWER_DEPTH = 64

_KID = re.compile(rb"^[A-Za-z0-9._-]{1,64}\Z")
_HEADER = struct.Struct(">IBB")


class Frame(NamedTuple):
    kid: str
    body: bytes
    #: Every byte before the tag: what the tag signs.
    signed: bytes
    tag: bytes


class FrameError(ValueError):
    """The bytes are not a well-formed v1 frame."""


class ValueModelError(ValueError):
    """A value outside the wire value model (§3.1); `path` is its dotted path (e.g. body.items.3.text)."""

    def __init__(self, message: str, path: str, limit: Optional[str] = None) -> None:
        super().__init__("%s: %s" % (path or "message", message))
        self.path = path
        self.limit = limit


def sign(secret: bytes, signed: bytes) -> bytes:
    return hmac.new(secret, signed, hashlib.sha256).digest()


def verify(secret: bytes, frame: Frame) -> bool:
    return hmac.compare_digest(sign(secret, frame.signed), frame.tag)


def encode_frame(kid: str, secret: bytes, message: Dict[str, Any]) -> bytes:
    """One signed frame carrying `message` (the caller checks it with check_value first)."""
    kid_b = kid.encode("ascii")
    if not _KID.match(kid_b):
        raise ValueError("kid must be 1..64 characters of [A-Za-z0-9._-]")
    body: bytes = msgpack.packb(message, use_bin_type=True)
    signed = _HEADER.pack(2 + len(kid_b) + len(body) + TAG_BYTES, PROTOCOL_VERSION, len(kid_b)) + kid_b + body
    return signed + sign(secret, signed)


def decode_body(body: bytes, max_depth: int = MAX_ANSWER_DEPTH) -> Dict[str, Any]:
    """The message of a frame body: exactly one map of JSON values (§3), else ValueError."""
    if not body or not (0x80 <= body[0] <= 0x8F or body[0] in (0xDE, 0xDF)):
        raise ValueError("body is not a MessagePack map")
    # raw=False: str as str (invalid UTF-8 raises); bin, ext and timestamps decode to
    # bytes / ExtType / Timestamp, which check_value refuses. Trailing bytes raise ExtraData.
    message: Dict[str, Any] = msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True)
    check_value(message, max_depth=max_depth, max_map_keys=None, max_elements=None, check_numbers=False)
    return message


def check_value(
    value: Any,
    path: str = "",
    *,
    max_depth: int = MAX_DEPTH,
    max_map_keys: Optional[int] = MAX_MAP_KEYS,
    max_elements: Optional[int] = MAX_ELEMENTS,
    depth: int = 0,
    check_numbers: bool = True,
) -> None:
    """Raises ValueModelError unless `value` is JSON as §3.1 allows.

    None, bool, int within ±(2^53 − 1), finite float, str (valid UTF-8, so no lone
    surrogates), list/tuple, dict with str keys other than "__proto__"; containers
    nested at most `max_depth` deep, counting from `depth` (the message map is 1).
    """
    elements = [0]
    _check(value, path, depth, max_depth, max_map_keys, max_elements, elements, check_numbers)


def _join(path: str, part: Union[str, int]) -> str:
    return "%s.%s" % (path, part) if path else str(part)


def _check(v: Any, path: str, depth: int, max_depth: int, max_keys: Optional[int], max_elements: Optional[int], elements: List[int], numbers: bool) -> None:
    if v is None or v is True or v is False:
        return
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueModelError("string is not valid UTF-8 (a lone surrogate)", path) from None
        return
    if isinstance(v, int):
        if numbers and not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
            raise ValueModelError("integer out of the ±2^53 range", path)
        return
    if isinstance(v, float):
        if numbers and not math.isfinite(v):
            raise ValueModelError("float is NaN or infinite", path)
        return
    if isinstance(v, (list, tuple)):
        depth += 1
        if depth > max_depth:
            raise ValueModelError("nested deeper than %d" % max_depth, path, "depth")
        elements[0] += len(v)
        if max_elements is not None and elements[0] > max_elements:
            raise ValueModelError("more than %d values in one message" % max_elements, path, "elements")
        for i, x in enumerate(v):
            _check(x, _join(path, i), depth, max_depth, max_keys, max_elements, elements, numbers)
        return
    if isinstance(v, dict):
        depth += 1
        if depth > max_depth:
            raise ValueModelError("nested deeper than %d" % max_depth, path, "depth")
        if max_keys is not None and len(v) > max_keys:
            raise ValueModelError("more than %d keys in one map" % max_keys, path, "keys")
        elements[0] += 2 * len(v)
        if max_elements is not None and elements[0] > max_elements:
            raise ValueModelError("more than %d values in one message" % max_elements, path, "elements")
        for k, x in v.items():
            if not isinstance(k, str):
                raise ValueModelError("map key %r is not a string" % (k,), path)
            if k == "__proto__":
                raise ValueModelError('map key "__proto__" is not allowed', path)
            try:
                k.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueModelError("map key is not valid UTF-8", path) from None
            _check(x, _join(path, k), depth, max_depth, max_keys, max_elements, elements, numbers)
        return
    raise ValueModelError("values are JSON (None, bool, int, float, str, list, dict), not %s" % type(v).__name__, path)


class FrameDecoder:
    """Splits a byte stream into frames (§2.1); raises FrameError on bytes that cannot be one.

    Accepts kid_len 0: a server diagnostic (§6.1), unsigned; the caller treats it as the reason for a close.
    """

    def __init__(self, max_frame_bytes: int) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> List[Frame]:
        buf = self._buf
        buf += data
        frames: List[Frame] = []
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            (length,) = struct.unpack_from(">I", buf, pos)
            if length > self._max:
                raise FrameError("frame of %d bytes is over the limit of %d" % (length, self._max))
            if length < 2 + 1 + TAG_BYTES:
                raise FrameError("frame length %d is below the minimum" % length)
            if n - pos < 4 + length:
                break
            ver, kid_len = buf[pos + 4], buf[pos + 5]
            if ver != PROTOCOL_VERSION:
                raise FrameError("unsupported protocol version %d" % ver)
            if kid_len > MAX_KID_BYTES or 2 + kid_len + 1 + TAG_BYTES > length:
                raise FrameError("bad kid length %d" % kid_len)
            end = pos + 4 + length
            kid_b = bytes(buf[pos + 6:pos + 6 + kid_len])
            if kid_len and not _KID.match(kid_b):
                raise FrameError("bad key id bytes")
            frames.append(Frame(kid_b.decode("ascii"), bytes(buf[pos + 6 + kid_len:end - TAG_BYTES]), bytes(buf[pos:end - TAG_BYTES]), bytes(buf[end - TAG_BYTES:end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf)


def split_frame(data: bytes) -> Tuple[Frame, int]:
    """Reads exactly one whole frame from the start of `data` (tests, tools); returns it and its size."""
    frames = FrameDecoder(len(data)).feed(data[:4 + struct.unpack_from(">I", data, 0)[0]])
    if len(frames) != 1:
        raise FrameError("not one whole frame")
    return frames[0], 4 + struct.unpack_from(">I", data, 0)[0]

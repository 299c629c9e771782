"""Client-side errors (PROTOCOL.md §6), mirroring src/client/errors.ts.

Wire codes map to classes by the table ERROR_CLASSES, never by message text.
TIMEOUT and CONNECTION_CLOSED are the client's own codes and never sent.
A failed TLS handshake is a TlsError (a ConnectionError, CONNECTION_CLOSED, not retryable).
"""
from typing import Any, Mapping, NamedTuple, Optional, Tuple, Type

__all__ = [
    "CtxdError",
    "FramingError",
    "AuthError",
    "RequestError",
    "NotFoundError",
    "QuotaError",
    "UnavailableError",
    "TimeoutError",
    "ConnectionError",
    "TlsError",
    "ERROR_CLASSES",
    "WIRE_CODES",
    "error_from_wire",
]


class WireCode(NamedTuple):
    fatal: bool
    retryable: bool


#: Every code the server sends (PROTOCOL.md §6; the set is closed for version 1).
WIRE_CODES: Mapping[str, WireCode] = {
    "BAD_FRAME": WireCode(True, False),
    "FRAME_TOO_LARGE": WireCode(True, False),
    "UNSUPPORTED_VERSION": WireCode(True, False),
    "UNKNOWN_KEY": WireCode(True, False),
    "BAD_SIGNATURE": WireCode(True, False),
    "STALE_TIMESTAMP": WireCode(False, True),
    "REPLAY": WireCode(False, False),
    "BAD_REQUEST": WireCode(False, False),
    "UNKNOWN_OP": WireCode(False, False),
    "NOT_FOUND": WireCode(False, False),
    "FORBIDDEN": WireCode(False, False),
    "QUOTA_EXCEEDED": WireCode(False, False),
    "RATE_LIMITED": WireCode(False, True),
    "OVERLOADED": WireCode(False, True),
    "UNAVAILABLE": WireCode(False, True),
    "SHUTTING_DOWN": WireCode(False, True),
    "INTERNAL": WireCode(False, True),
}


class CtxdError(Exception):
    """Base of every error the client raises.

    code: a wire code of PROTOCOL.md §6, or TIMEOUT / CONNECTION_CLOSED.
    retryable: whether the same operation may succeed if sent again later.
    retry_after_ms: the server's hint of when, if it gave one.
    details: the server's details (e.g. {"field": "body.level"} for BAD_REQUEST).
    """

    code: str
    message: str
    retryable: bool
    retry_after_ms: Optional[int]
    details: Any

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: Optional[bool] = None,
        retry_after_ms: Optional[int] = None,
        details: Any = None,
    ) -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        if retryable is None:
            spec = WIRE_CODES.get(code)
            retryable = spec.retryable if spec is not None else True
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms
        self.details = details

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:  # keyword-only arguments: pickle (multiprocessing) needs this
        return (_rebuild, (type(self), self.code, self.message, self.retryable, self.retry_after_ms, self.details))

    def _clone(self) -> "CtxdError":
        """A fresh instance, so that failing many requests at once does not share one traceback."""
        return type(self)(self.code, self.message, retryable=self.retryable, retry_after_ms=self.retry_after_ms, details=self.details)


def _rebuild(cls: Type[CtxdError], code: str, message: str, retryable: bool, retry_after_ms: Optional[int], details: Any) -> CtxdError:
    return cls(code, message, retryable=retryable, retry_after_ms=retry_after_ms, details=details)


class FramingError(CtxdError):
    """The frame or connection was refused: bad bytes, version, size."""


class AuthError(CtxdError):
    """The key is unknown, a signature wrong (the server's or an answer's), or the role insufficient."""


class RequestError(CtxdError):
    """The request itself is wrong: fix it before sending again."""


class NotFoundError(CtxdError):
    """The addressed object does not exist in this tenant."""


class QuotaError(CtxdError):
    """A tenant quota would be exceeded (details: quota, limit, usage)."""


class UnavailableError(CtxdError):
    """The server cannot take the request now; retry later (see retry_after_ms)."""


class TimeoutError(CtxdError):  # noqa: A001 - ctxd.TimeoutError, as the TS client's CtxdTimeoutError
    """No answer within the request's timeout; the request may or may not have run."""


class ConnectionError(CtxdError):  # noqa: A001 - ctxd.ConnectionError
    """The connection dropped (or could not be made) before an answer arrived; the request may or may not have run."""


class TlsError(ConnectionError):
    """TLS refused the connection: the server's certificate did not verify (untrusted, expired, another name),
    the server does not speak TLS, or the versions or ciphers do not meet. Code CONNECTION_CLOSED, not
    retryable (the client does not try again by itself); details: tls_reason (OpenSSL's reason, e.g.
    CERTIFICATE_VERIFY_FAILED) and, for a certificate, verify_code and verify_message."""


#: Wire code -> exception class (src/client/errors.ts ERROR_CLASSES).
ERROR_CLASSES: Mapping[str, Type[CtxdError]] = {
    "BAD_FRAME": FramingError,
    "FRAME_TOO_LARGE": FramingError,
    "UNSUPPORTED_VERSION": FramingError,
    "UNKNOWN_KEY": AuthError,
    "BAD_SIGNATURE": AuthError,
    "FORBIDDEN": AuthError,
    "STALE_TIMESTAMP": RequestError,
    "REPLAY": RequestError,
    "BAD_REQUEST": RequestError,
    "UNKNOWN_OP": RequestError,
    "NOT_FOUND": NotFoundError,
    "QUOTA_EXCEEDED": QuotaError,
    "RATE_LIMITED": UnavailableError,
    "OVERLOADED": UnavailableError,
    "UNAVAILABLE": UnavailableError,
    "SHUTTING_DOWN": UnavailableError,
    "INTERNAL": UnavailableError,
}


def error_from_wire(err: Any) -> CtxdError:
    """The exception for the `error` map of an answer or a diagnostic (PROTOCOL.md §4.2)."""
    if not isinstance(err, dict) or err.get("code") not in ERROR_CLASSES:
        return CtxdError("INTERNAL", "malformed error from server: %.200r" % (err,))
    cls = ERROR_CLASSES[err["code"]]
    retry_after = err.get("retry_after_ms")
    return cls(
        err["code"],
        str(err.get("message", "")),
        retryable=bool(err.get("retryable")),
        retry_after_ms=retry_after if isinstance(retry_after, int) and not isinstance(retry_after, bool) else None,
        details=err.get("details"),
    )


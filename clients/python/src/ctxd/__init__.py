"""Client for the ctxd context daemon (protocol/PROTOCOL.md): sync `Client` and asyncio `AsyncClient`, over TCP or TLS.

    from ctxd import Client
    with Client(port=7411, data_dir="./data") as c:
        c.store("The deploy freeze starts Friday", level=3)
        print(c.retrieve("when is the deploy freeze?")["contexts"][0]["text"])
"""
from ._bodies import UNSET
from ._version import __version__
from .aio import AsyncClient
from .client import Client
from .errors import (
    ERROR_CLASSES,
    AuthError,
    ConnectionError,
    CtxdError,
    FramingError,
    NotFoundError,
    QuotaError,
    RequestError,
    TimeoutError,
    TlsError,
    UnavailableError,
    error_from_wire,
)
from .keys import Key, KeyringError, key_from_data_dir, read_keyring
from .tls import TlsOptions
from .types import (
    BackupAnswer,
    Context,
    Deleted,
    ExportedContext,
    ExportPage,
    Hello,
    ImportAnswer,
    ImportResult,
    ItemError,
    Level,
    Limits,
    ListPage,
    PurgeAnswer,
    RekeyAnswer,
    RetrieveAnswer,
    RetrievedContext,
    Stats,
    EndSessionAnswer,
    SessionSummary,
    SessionsPage,
    StoreBatchAnswer,
    StoreItem,
    StoreResult,
    WireError,
)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "UNSET",
    "Key",
    "KeyringError",
    "key_from_data_dir",
    "read_keyring",
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
    "TlsOptions",
    "ERROR_CLASSES",
    "error_from_wire",
    "BackupAnswer",
    "Context",
    "Deleted",
    "ExportedContext",
    "ExportPage",
    "Hello",
    "ImportAnswer",
    "ImportResult",
    "ItemError",
    "Level",
    "Limits",
    "ListPage",
    "PurgeAnswer",
    "RekeyAnswer",
    "RetrieveAnswer",
    "RetrievedContext",
    "Stats",
    "EndSessionAnswer",
    "SessionSummary",
    "SessionsPage",
    "StoreBatchAnswer",
    "StoreItem",
    "StoreResult",
    "WireError",
]

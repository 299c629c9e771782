"""The synchronous client: an AsyncClient run on a private event loop thread.

Each Client starts one daemon thread running its own asyncio loop, which owns
the connection; a method call hands its coroutine to that loop and blocks for
the answer. So the sync client has exactly the asyncio client's behaviour
(hello first, pipelining, verification, timeouts, reconnects), and it is
thread-safe: calls from many threads are pipelined on the one connection.
"""
import asyncio
import concurrent.futures
import threading
import weakref
from typing import Any, Coroutine, Dict, Iterator, Optional, Sequence, TypeVar, Union

from ._bodies import UNSET
from ._version import __version__
from .aio import DEFAULT_HOST, DEFAULT_PORT, AsyncClient
from .errors import ConnectionError
from .keys import Key
from .tls import TlsArg
from .types import (
    BackupAnswer,
    Context,
    Deleted,
    ExportPage,
    Hello,
    ImportAnswer,
    Level,
    ListPage,
    PurgeAnswer,
    RekeyAnswer,
    RetrieveAnswer,
    Stats,
    EndSessionAnswer,
    SessionsPage,
    StoreBatchAnswer,
    StoreItem,
    StoreResult,
)

__all__ = ["Client"]

T = TypeVar("T")


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


async def _close_on_loop(aio: AsyncClient) -> None:
    await aio.close()
    # Whatever still runs (a call that raced close) ends now, so no caller waits on a stopped loop.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in others:
        t.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread, aio: AsyncClient) -> None:
    """Closes the connection, stops the loop and its thread (Client.close, or the client's finalizer)."""
    if loop.is_closed():
        return
    if threading.current_thread() is thread:  # collected on its own loop thread: stop without waiting
        loop.call_soon(loop.stop)
        return
    try:
        asyncio.run_coroutine_threadsafe(_close_on_loop(aio), loop).result(5)
    except Exception:  # noqa: BLE001 - closing must not fail
        pass
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    if not thread.is_alive():
        loop.close()


class Client:
    """A blocking ctxd client: `with Client(port=7411, data_dir="./data") as c: c.ping()`.

    Takes the same arguments as AsyncClient (key: kid + secret, key, or
    data_dir; times in seconds; `tls=` an ssl.SSLContext or ctxd.TlsOptions)
    and has the same methods, blocking. Safe to
    share between threads. Close it (or use `with`) to end its connection and
    its loop thread; a client that is garbage-collected is closed too.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        kid: Optional[str] = None,
        secret: Union[bytes, str, None] = None,
        key: Optional[Key] = None,
        data_dir: Optional[str] = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_reconnect_attempts: int = 8,
        reconnect_base: float = 0.05,
        reconnect_max: float = 5.0,
        max_frame_bytes: int = 64 * 1024 * 1024,
        client_name: str = "ctxd-py/" + __version__,
        tls: TlsArg = None,
    ) -> None:
        self._aio = AsyncClient(
            host, port, kid=kid, secret=secret, key=key, data_dir=data_dir, timeout=timeout, connect_timeout=connect_timeout,
            max_reconnect_attempts=max_reconnect_attempts, reconnect_base=reconnect_base, reconnect_max=reconnect_max,
            max_frame_bytes=max_frame_bytes, client_name=client_name, tls=tls,
        )
        self._lock = threading.Lock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_run_loop, args=(self._loop,), name="ctxd-client-loop", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._loop, self._thread, self._aio)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a ctxd.Client cannot be called from its own loop thread")
        with self._lock:
            if self._closed:
                coro.close()
                raise ConnectionError("CONNECTION_CLOSED", "client is closed", retryable=False)
            fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result()
        except concurrent.futures.CancelledError:
            raise ConnectionError("CONNECTION_CLOSED", "client closed", retryable=False) from None
        except KeyboardInterrupt:
            fut.cancel()
            raise

    # --- state ---------------------------------------------------------------

    @property
    def key(self) -> Key:
        return self._aio.key

    @property
    def server_info(self) -> Optional[Hello]:
        """The answer to the `hello` of the latest connection, once it arrived."""
        return self._aio.server_info

    @property
    def connected(self) -> bool:
        return self._aio.connected

    @property
    def inflight(self) -> int:
        return self._aio.inflight

    @property
    def tls(self) -> bool:
        """Whether this client connects with TLS."""
        return self._aio.tls

    @property
    def tls_version(self) -> Optional[str]:
        """The TLS version of the current connection ("TLSv1.3"), None when not connected or plaintext."""
        return self._aio.tls_version

    @property
    def connections_opened(self) -> int:
        return self._aio.connections_opened

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Client":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def connect(self, *, timeout: Optional[float] = None) -> Hello:
        """Connects (retrying with backoff) unless connected; answers the connection's hello."""
        return self._call(self._aio.connect(timeout=timeout))

    def close(self) -> None:
        """Closes the connection and stops the loop thread; calls in flight fail with ConnectionError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer()

    # --- requests ------------------------------------------------------------

    def request(self, op: str, body: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Sends one request of any op with any body; answers its body or raises a CtxdError."""
        return self._call(self._aio.request(op, body, timeout=timeout))

    def hello(self, client: Optional[str] = None, *, timeout: Optional[float] = None) -> Hello:
        return self._call(self._aio.hello(client, timeout=timeout))

    def ping(self, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        return self._call(self._aio.ping(timeout=timeout))

    def store(
        self,
        text: str,
        level: Level,
        *,
        session: Optional[str] = None,
        agent: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
        ttl_s: Optional[int] = None,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> StoreResult:
        return self._call(self._aio.store(text, level, session=session, agent=agent, tags=tags, metadata=metadata, ttl_s=ttl_s, tenant=tenant, timeout=timeout))

    def store_batch(self, items: Sequence[StoreItem], *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> StoreBatchAnswer:
        return self._call(self._aio.store_batch(items, tenant=tenant, timeout=timeout))

    def retrieve(
        self,
        query: str,
        *,
        max_tokens: Optional[int] = None,
        levels: Optional[Sequence[Level]] = None,
        session: Optional[str] = None,
        agent: Optional[str] = None,
        tags_any: Optional[Sequence[str]] = None,
        tags_all: Optional[Sequence[str]] = None,
        where: Optional[Dict[str, Any]] = None,
        since: Optional[int] = None,
        until: Optional[int] = None,
        min_score: Optional[float] = None,
        min_similarity: Optional[float] = None,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> RetrieveAnswer:
        return self._call(
            self._aio.retrieve(
                query, max_tokens=max_tokens, levels=levels, session=session, agent=agent, tags_any=tags_any, tags_all=tags_all,
                where=where, since=since, until=until, min_score=min_score, min_similarity=min_similarity, tenant=tenant, timeout=timeout,
            )
        )

    def get(self, id: str, *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Context:
        return self._call(self._aio.get(id, tenant=tenant, timeout=timeout))

    def update(
        self,
        id: str,
        *,
        text: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        tags: Optional[Sequence[str]] = None,
        level: Optional[Level] = None,
        ttl_s: Optional[int] = UNSET,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Context:
        return self._call(self._aio.update(id, text=text, metadata=metadata, tags=tags, level=level, ttl_s=ttl_s, tenant=tenant, timeout=timeout))

    def delete(self, id: str, *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Deleted:
        return self._call(self._aio.delete(id, tenant=tenant, timeout=timeout))

    def delete_where(
        self,
        *,
        session: Optional[str] = None,
        agent: Optional[str] = None,
        level: Optional[Level] = None,
        tags_any: Optional[Sequence[str]] = None,
        where: Optional[Dict[str, Any]] = None,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Deleted:
        return self._call(self._aio.delete_where(session=session, agent=agent, level=level, tags_any=tags_any, where=where, tenant=tenant, timeout=timeout))

    def clear(self, level: Level, *, session: Optional[str] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Deleted:
        return self._call(self._aio.clear(level, session=session, tenant=tenant, timeout=timeout))

    def list_page(
        self,
        *,
        level: Optional[Level] = None,
        session: Optional[str] = None,
        agent: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> ListPage:
        return self._call(self._aio.list_page(level=level, session=session, agent=agent, cursor=cursor, limit=limit, tenant=tenant, timeout=timeout))

    def list(
        self,
        *,
        level: Optional[Level] = None,
        session: Optional[str] = None,
        agent: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Iterator[ListPage]:
        """Every page of contexts in id order, following next_cursor to the last page (§7.8)."""
        while True:
            page = self.list_page(level=level, session=session, agent=agent, cursor=cursor, limit=limit, tenant=tenant, timeout=timeout)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    def end_session(self, session: str, *, action: Optional[str] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> EndSessionAnswer:
        """Ends a session's working memory: its L1 moves to L2 (action "move", the default) or is dropped ("drop") (§7.14)."""
        return self._call(self._aio.end_session(session, action=action, tenant=tenant, timeout=timeout))

    def list_sessions_page(self, *, cursor: Optional[str] = None, limit: Optional[int] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> SessionsPage:
        """One page of the sessions holding L1 or L2 contexts, by name (§7.14)."""
        return self._call(self._aio.list_sessions_page(cursor=cursor, limit=limit, tenant=tenant, timeout=timeout))

    def list_sessions(self, *, cursor: Optional[str] = None, limit: Optional[int] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Iterator[SessionsPage]:
        """Every page of sessions, following next_cursor (§7.14)."""
        while True:
            page = self.list_sessions_page(cursor=cursor, limit=limit, tenant=tenant, timeout=timeout)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    def stats(self, *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Stats:
        return self._call(self._aio.stats(tenant=tenant, timeout=timeout))

    # --- admin ops ------------------------------------------------------------

    def export_page(
        self,
        tenant: Optional[str] = None,
        session: Optional[str] = None,
        level: Optional[Level] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        vectors: bool = False,
        all_tenants: bool = False,
        *,
        timeout: Optional[float] = None,
    ) -> ExportPage:
        return self._call(self._aio.export_page(tenant, session, level, cursor, limit, vectors, all_tenants, timeout=timeout))

    def export(
        self,
        tenant: Optional[str] = None,
        session: Optional[str] = None,
        level: Optional[Level] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        vectors: bool = False,
        all_tenants: bool = False,
        *,
        timeout: Optional[float] = None,
    ) -> Iterator[ExportPage]:
        """Every export page, following next_cursor to the last."""
        while True:
            page = self.export_page(tenant, session, level, cursor, limit, vectors, all_tenants, timeout=timeout)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    def import_items(
        self,
        items: Sequence[Dict[str, Any]],
        tenant: Optional[str] = None,
        *,
        vector_space: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> ImportAnswer:
        return self._call(self._aio.import_items(items, tenant, vector_space=vector_space, timeout=timeout))

    def purge(self, tenant: str, *, timeout: Optional[float] = None) -> PurgeAnswer:
        return self._call(self._aio.purge(tenant, timeout=timeout))

    def backup(self, *, timeout: Optional[float] = None) -> BackupAnswer:
        return self._call(self._aio.backup(timeout=timeout))

    def rekey(self, cursor: Optional[str] = None, limit: Optional[int] = None, drop_unreadable: Optional[bool] = None, *, timeout: Optional[float] = None) -> RekeyAnswer:
        return self._call(self._aio.rekey(cursor, limit, drop_unreadable, timeout=timeout))


for _name in (
    "hello", "ping", "store", "store_batch", "retrieve", "get", "update", "delete", "delete_where", "clear",
    "list_page", "stats", "export_page", "import_items", "purge", "backup", "rekey",
):
    getattr(Client, _name).__doc__ = getattr(AsyncClient, _name).__doc__
del _name

"""The asyncio client: one TCP (or TLS) connection, many pipelined requests (PROTOCOL.md §4).

Every connection starts with `hello` (§2.3), written before any other request;
requests are pipelined behind it at once and correlated by id. Every answer's
tag is verified (a failure drops the connection, failing what was in flight
with AuthError BAD_SIGNATURE); a diagnostic frame (kid "", §6.1) fails what was
in flight with its code. Each request has a timeout; a lost connection is
made again, with exponential backoff and jitter, by the next request. With
`tls=`, a handshake that TLS refuses (a certificate that does not verify, a
port that is not TLS) raises TlsError and is not tried again by itself.
"""
import asyncio
import os
import random
import socket
import ssl
import time
from base64 import urlsafe_b64encode
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Tuple, Union

from . import _bodies
from ._bodies import UNSET
from ._version import __version__
from .errors import AuthError, ConnectionError, CtxdError, FramingError, RequestError, TimeoutError, error_from_wire
from .keys import Key, KeyringError, key_from_data_dir
from .tls import TlsArg, handshake_error, is_transient, lost_error, resolve_tls
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
from .wire import Frame, FrameDecoder, FrameError, ValueModelError, check_value, decode_body, encode_frame, verify

__all__ = ["AsyncClient", "resolve_key"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7411


def resolve_key(kid: Optional[str], secret: Union[bytes, str, None], key: Optional[Key], data_dir: Optional[str]) -> Key:
    """The key to sign with: `key`, else `kid` + `secret`, else the first admin key (else first key) of `data_dir`."""
    if key is not None:
        return key
    if kid is not None or secret is not None:
        if kid is None or secret is None:
            raise ValueError("give both kid and secret")
        return Key.of(kid, secret)
    if data_dir is not None:
        found = key_from_data_dir(data_dir)
        if found is None:
            raise KeyringError("no key in %s" % os.path.join(data_dir, "keys.json"))
        return found
    raise ValueError("give kid and secret, key, or data_dir")


class _Connection(asyncio.Protocol):
    """One TCP connection: its frame decoder, its requests in flight, its write flow control."""

    def __init__(self, owner: "AsyncClient", loop: asyncio.AbstractEventLoop, max_frame_bytes: int) -> None:
        self.owner = owner
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.decoder = FrameDecoder(max_frame_bytes)
        self.pending: Dict[str, "asyncio.Future[Dict[str, Any]]"] = {}
        self.lost = False
        #: Why the connection was lost (the first failure), once it was.
        self.error: Optional[CtxdError] = None
        #: Set when the server (or TLS) refused the connection: a diagnostic's error or a TlsError. What a request
        #: that finds the connection lost before it could be written raises, instead of connecting again.
        self.refusal: Optional[CtxdError] = None
        self.closed: "asyncio.Future[None]" = loop.create_future()
        self.hello: "Optional[asyncio.Future[Dict[str, Any]]]" = None
        self._paused = False
        self._drain_waiters: List["asyncio.Future[None]"] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.lost:
            return
        try:
            frames = self.decoder.feed(data)
        except FrameError as e:
            self.owner._drop(self, ConnectionError("CONNECTION_CLOSED", "server sent a bad frame: %s" % e))
            return
        for frame in frames:
            self.owner._on_frame(self, frame)
            if self.lost:
                return

    def eof_received(self) -> bool:
        return False  # the server closed its side: close ours (connection_lost follows)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.owner._on_lost(self, exc)
        self._wake()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def _wake(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def drain(self) -> None:
        """Waits while the socket's send buffer is full (the server stopped reading, §4.4)."""
        if self._paused and not self.lost:
            w = self.loop.create_future()
            self._drain_waiters.append(w)
            await w


class AsyncClient:
    """A ctxd client for asyncio: `async with AsyncClient(port=7411, data_dir="./data") as c: await c.ping()`.

    Key: `kid` + `secret` (bytes or hex), or `key`, or `data_dir` (its keys.json:
    the first admin key, else the first key). Times are in seconds: `timeout`
    per request (from the call to the answer, connecting included),
    `connect_timeout` per attempt; reconnecting makes up to
    `max_reconnect_attempts` more attempts, waiting `reconnect_base` · 2^n
    (at most `reconnect_max`) times a random 0.5..1 between them.

    `tls`: connect with TLS (a daemon with `tls.cert_file` set): an
    ssl.SSLContext, or ctxd.TlsOptions(ca=, cert=, key=, servername=) (or a
    dict of those), or True for the system's roots. The server's certificate
    must verify, and carry the host's name or IP address (or `servername`);
    a handshake TLS refuses raises ctxd.TlsError, not retried.

    The client belongs to the event loop it is first used on. Answers are
    plain dicts (see ctxd.types); failures raise ctxd.CtxdError subclasses.
    An admin key may pass `tenant=` to any op to act on that tenant (§5).
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
        self._key = resolve_key(kid, secret, key, data_dir)
        self._tls = resolve_tls(tls, host)
        self._host = host
        self._port = port
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_reconnect_attempts = max_reconnect_attempts
        self._reconnect_base = reconnect_base
        self._reconnect_max = reconnect_max
        self._max_frame_bytes = max_frame_bytes
        self._client_name = client_name
        self._id_prefix = urlsafe_b64encode(os.urandom(6)).decode("ascii")
        self._seq = 0
        self._conn: Optional[_Connection] = None
        self._connecting: "Optional[asyncio.Task[_Connection]]" = None
        self._closed = False
        self._server_info: Optional[Hello] = None
        self._connections_opened = 0

    # --- state ---------------------------------------------------------------

    @property
    def key(self) -> Key:
        return self._key

    @property
    def server_info(self) -> Optional[Hello]:
        """The answer to the `hello` of the latest connection, once it arrived (limits, ops, the key's tenant)."""
        return self._server_info

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.lost

    @property
    def tls(self) -> bool:
        """Whether this client connects with TLS."""
        return self._tls is not None

    @property
    def tls_version(self) -> Optional[str]:
        """The TLS version of the current connection ("TLSv1.3"), None when not connected or plaintext."""
        conn = self._conn
        if conn is None or conn.lost or conn.transport is None:
            return None
        obj = conn.transport.get_extra_info("ssl_object")
        return obj.version() if obj is not None else None

    @property
    def inflight(self) -> int:
        return len(self._conn.pending) if self._conn is not None else 0

    @property
    def connections_opened(self) -> int:
        """How many connections this client has made (1 + reconnects)."""
        return self._connections_opened

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> "AsyncClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def connect(self, *, timeout: Optional[float] = None) -> Hello:
        """Connects (retrying with backoff) unless connected; answers the connection's hello."""

        async def run() -> Dict[str, Any]:
            conn = await self._ensure()
            assert conn.hello is not None
            info = await asyncio.shield(conn.hello)
            if self._conn is conn:
                self._server_info = info  # type: ignore[assignment]
            return info

        return await self._timed("hello", run(), timeout)  # type: ignore[return-value]

    async def close(self) -> None:
        """Closes the connection; requests in flight fail with ConnectionError (not retryable)."""
        if self._closed:
            return
        self._closed = True
        task, self._connecting = self._connecting, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
        conn, self._conn = self._conn, None
        if conn is not None and conn.loop is not asyncio.get_running_loop():
            self._abandon(conn)
        elif conn is not None:
            conn.lost = True
            self._fail(conn, ConnectionError("CONNECTION_CLOSED", "client closed", retryable=False))
            if conn.transport is not None:
                conn.transport.close()
                try:
                    await asyncio.wait_for(asyncio.shield(conn.closed), 1.0)
                except asyncio.TimeoutError:
                    conn.transport.abort()

    # --- requests ------------------------------------------------------------

    async def request(self, op: str, body: Optional[Dict[str, Any]] = None, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Sends one request of any op with any body; answers its body or raises a CtxdError."""
        if not isinstance(op, str) or not op:
            raise RequestError("BAD_REQUEST", "op must be a non-empty string", retryable=False, details={"field": "op"})
        body = self._checked(body)
        return await self._timed(op, self._request(op, body), timeout)

    async def _timed(self, op: str, coro: Any, timeout: Optional[float]) -> Dict[str, Any]:
        t = self._timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(coro, t)
        except asyncio.TimeoutError:
            raise TimeoutError("TIMEOUT", "%s got no answer within %g s" % (op, t)) from None

    def _server_limit(self, name: str) -> Optional[int]:
        """A limit the server's hello reported (None before the first hello answer)."""
        info: Any = self._server_info
        limits = info.get("limits") if isinstance(info, dict) else None
        value = limits.get(name) if isinstance(limits, dict) else None
        if value is None and name == "max_frame_bytes" and isinstance(info, dict):
            value = info.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def _checked(self, body: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise RequestError("BAD_REQUEST", "body must be a dict", retryable=False, details={"field": "body"})
        try:
            check_value(
                body,
                "body",
                depth=1,  # the message map is depth 1 (§3.1)
                max_depth=self._server_limit("max_depth") or 32,
                max_map_keys=self._server_limit("max_map_keys") or 1024,
                max_elements=self._server_limit("max_elements") or 1_000_000,
            )
        except ValueModelError as e:
            details: Dict[str, Any] = {"field": e.path}
            if e.limit:
                details["limit"] = e.limit
            raise RequestError("BAD_REQUEST", "cannot encode message field %s" % e, retryable=False, details=details) from None
        return body

    async def _request(self, op: str, body: Dict[str, Any]) -> Dict[str, Any]:
        for _ in range(3):
            conn = await self._ensure()
            if conn.lost:  # lost between connecting and now: nothing was sent, so try again, unless the server refused it
                if conn.refusal is not None:
                    raise conn.refusal._clone()
                continue
            rid, fut = self._write(conn, op, body)
            try:
                await conn.drain()
                return await fut
            finally:
                conn.pending.pop(rid, None)
                if not fut.done():
                    fut.cancel()
        raise ConnectionError("CONNECTION_CLOSED", "the connection kept closing before the request could be sent")

    def _write(self, conn: _Connection, op: str, body: Dict[str, Any]) -> Tuple[str, "asyncio.Future[Dict[str, Any]]"]:
        self._seq += 1
        rid = "%s-%s" % (self._id_prefix, _base36(self._seq))
        frame = encode_frame(self._key.kid, self._key.secret, {"id": rid, "ts": int(time.time() * 1000), "op": op, "body": body})
        limit = self._server_limit("max_frame_bytes")
        if limit is not None and len(frame) - 4 > limit:
            # Sent, it would close the connection and fail every request in flight (§2.1).
            raise FramingError("FRAME_TOO_LARGE", "%s request of %d bytes is over the server's max_frame_bytes %d" % (op, len(frame) - 4, limit), retryable=False)
        fut: "asyncio.Future[Dict[str, Any]]" = conn.loop.create_future()
        conn.pending[rid] = fut
        assert conn.transport is not None
        conn.transport.write(frame)
        return rid, fut

    # --- connections ---------------------------------------------------------

    async def _ensure(self) -> _Connection:
        if self._closed:
            raise ConnectionError("CONNECTION_CLOSED", "client is closed", retryable=False)
        loop = asyncio.get_running_loop()
        conn = self._conn
        if conn is not None and conn.loop is not loop:
            self._abandon(conn)  # used from another loop than before (a second asyncio.run): start afresh on this one
            conn = None
        if conn is not None and not conn.lost:
            return conn
        task = self._connecting
        if task is not None and task.get_loop() is not loop:
            task = self._connecting = None
        if task is None:
            task = self._connecting = loop.create_task(self._connect_with_backoff())
            task.add_done_callback(_consume)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and self._closed:
                raise ConnectionError("CONNECTION_CLOSED", "client closed", retryable=False) from None
            raise

    async def _connect_with_backoff(self) -> _Connection:
        loop = asyncio.get_running_loop()
        attempt = 0
        tls = self._tls
        try:
            while True:
                why: Optional[str] = None
                try:
                    _, conn = await asyncio.wait_for(
                        loop.create_connection(
                            lambda: _Connection(self, loop, self._max_frame_bytes), self._host, self._port,
                            ssl=tls.context if tls is not None else None, server_hostname=tls.server_hostname if tls is not None else None,
                        ),
                        self._connect_timeout,
                    )
                except ssl.SSLError as e:
                    # TLS refused the handshake (a certificate, a version, a port that is not TLS): trying again cannot help.
                    if not is_transient(e):
                        assert tls is not None
                        raise handshake_error(e, self._host, self._port, tls.server_hostname) from None
                    why = "TLS handshake cut: %s" % (e.strerror or e)
                except (OSError, asyncio.TimeoutError) as e:
                    why = str(e) or ("connect timed out" if isinstance(e, asyncio.TimeoutError) else type(e).__name__)
                else:
                    if conn.lost:
                        # Refused as soon as it opened (a diagnostic right after the TLS handshake, e.g. FORBIDDEN for a
                        # client certificate, or OVERLOADED), before hello was written: that refusal is the answer.
                        if conn.refusal is not None:
                            raise conn.refusal._clone()
                        why = conn.error.message if conn.error is not None else "closed at once"
                if why is not None:
                    if self._closed or attempt >= self._max_reconnect_attempts:
                        raise ConnectionError("CONNECTION_CLOSED", "cannot connect to %s:%d: %s" % (self._host, self._port, why)) from None
                    backoff = min(self._reconnect_max, self._reconnect_base * 2 ** attempt)
                    attempt += 1
                    await asyncio.sleep(backoff * (0.5 + random.random() / 2))
                    continue
                if self._closed:
                    assert conn.transport is not None
                    conn.transport.abort()
                    raise ConnectionError("CONNECTION_CLOSED", "client closed", retryable=False)
                self._conn = conn
                self._connections_opened += 1
                # hello first (§2.3): written before any other request, which may follow at once.
                _, hello = self._write(conn, "hello", {"client": self._client_name})
                conn.hello = hello
                hello.add_done_callback(self._on_hello)
                return conn
        finally:
            if self._connecting is asyncio.current_task():
                self._connecting = None

    def _on_hello(self, fut: "asyncio.Future[Dict[str, Any]]") -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        self._server_info = fut.result()  # type: ignore[assignment]

    def _on_frame(self, conn: _Connection, frame: Frame) -> None:
        if frame.kid == "":
            # A diagnostic (§6.1): unsigned, the server is closing; fail everything with its code.
            try:
                message: Any = decode_body(frame.body)
            except Exception:  # noqa: BLE001 - an unreadable diagnostic still means the server is closing
                message = None
            conn.refusal = error_from_wire(message.get("error") if isinstance(message, dict) else None)
            return self._drop(conn, conn.refusal)
        if frame.kid != self._key.kid or not verify(self._key.secret, frame):
            return self._drop(conn, AuthError("BAD_SIGNATURE", "an answer from the server did not verify with this key", retryable=False))
        try:
            message = decode_body(frame.body)
        except Exception as e:  # noqa: BLE001
            return self._drop(conn, ConnectionError("CONNECTION_CLOSED", "server sent an undecodable answer: %s" % e))
        rid = message.get("id")
        # An answer to no pending request (timed out, or id "" for an unreadable envelope) is dropped.
        fut = conn.pending.pop(rid, None) if isinstance(rid, str) else None
        if fut is None or fut.done():
            return
        if message.get("ok") is True:
            answer = message.get("body")
            fut.set_result(answer if isinstance(answer, dict) else {})
        else:
            fut.set_exception(error_from_wire(message.get("error")))

    def _abandon(self, conn: _Connection) -> None:
        """Lets go of a connection of another event loop, which may be closed already."""
        self._forget(conn)
        conn.pending = {}
        if conn.transport is not None:
            try:
                conn.transport.abort()
            except RuntimeError:  # its loop is closed: at least end the TCP connection
                sock = conn.transport.get_extra_info("socket")
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except (AttributeError, OSError):
                    pass

    def _forget(self, conn: _Connection) -> None:
        conn.lost = True
        if self._conn is conn:
            self._conn = None

    def _drop(self, conn: _Connection, err: CtxdError) -> None:
        self._forget(conn)
        if conn.error is None:
            conn.error = err
        self._fail(conn, err)
        if conn.transport is not None:
            conn.transport.abort()

    def _on_lost(self, conn: _Connection, exc: Optional[BaseException] = None) -> None:
        self._forget(conn)
        refusal = lost_error(exc) if exc is not None else None
        if refusal is not None and conn.refusal is None:
            conn.refusal = refusal
        err = refusal or ConnectionError("CONNECTION_CLOSED", "connection closed before the answer arrived")
        if conn.error is None:
            conn.error = err
        self._fail(conn, err)

    def _fail(self, conn: _Connection, err: CtxdError) -> None:
        pending, conn.pending = conn.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(err._clone())

    # --- ops (PROTOCOL.md §7) -------------------------------------------------

    async def hello(self, client: Optional[str] = None, *, timeout: Optional[float] = None) -> Hello:
        """The server's version, limits and ops, and this key's tenant and role (§7.1)."""
        return await self.request("hello", _bodies.body(client=client), timeout=timeout)  # type: ignore[return-value]

    async def ping(self, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The cheapest authenticated round trip (§7.2)."""
        return await self.request("ping", {}, timeout=timeout)

    async def store(
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
        """Stores one context (§7.4); an exact or near duplicate refreshes the one already stored."""
        b = _bodies.body(text=text, level=level, session=session, agent=agent, tags=tags, metadata=metadata, ttl_s=ttl_s, tenant=tenant)
        return await self.request("store", b, timeout=timeout)  # type: ignore[return-value]

    async def store_batch(self, items: Sequence[StoreItem], *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> StoreBatchAnswer:
        """Stores 1..1000 contexts; each item is answered with its result or its own error, in order (§7.4)."""
        return await self.request("store_batch", _bodies.body(items=list(items), tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    async def retrieve(
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
        """The most relevant contexts that fit `max_tokens` (§7.5)."""
        b = _bodies.body(
            query=query, max_tokens=max_tokens, levels=levels, session=session, agent=agent, tags_any=tags_any, tags_all=tags_all,
            where=where, since=since, until=until, min_score=min_score, min_similarity=min_similarity, tenant=tenant,
        )
        return await self.request("retrieve", b, timeout=timeout)  # type: ignore[return-value]

    async def get(self, id: str, *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Context:
        """One context by id; NotFoundError if it does not exist (or expired) in this tenant (§7.6)."""
        return await self.request("get", _bodies.body(id=id, tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    async def update(
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
        """Changes a context (§7.6): metadata is merged (a None value removes its key); ttl_s=None removes the expiry."""
        return await self.request("update", _bodies.update_body(id, text, metadata, tags, level, ttl_s, tenant), timeout=timeout)  # type: ignore[return-value]

    async def delete(self, id: str, *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Deleted:
        """Deletes one context; NotFoundError if it does not exist in this tenant (§7.7)."""
        return await self.request("delete", _bodies.body(id=id, tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    async def delete_where(
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
        """Deletes every context that matches; at least one filter is required (§7.7)."""
        b = _bodies.body(session=session, agent=agent, level=level, tags_any=tags_any, where=where, tenant=tenant)
        return await self.request("delete_where", b, timeout=timeout)  # type: ignore[return-value]

    async def clear(self, level: Level, *, session: Optional[str] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Deleted:
        """Deletes L1 or L2 of a session (the default one when omitted), or the tenant's L3 (§7.7)."""
        return await self.request("clear", _bodies.body(level=level, session=session, tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    async def list_page(
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
        """One page of contexts in id order (§7.8); pass next_cursor back as cursor for the next."""
        b = _bodies.body(level=level, session=session, agent=agent, cursor=cursor, limit=limit, tenant=tenant)
        return await self.request("list", b, timeout=timeout)  # type: ignore[return-value]

    async def list(
        self,
        *,
        level: Optional[Level] = None,
        session: Optional[str] = None,
        agent: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
        tenant: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> AsyncIterator[ListPage]:
        """Every page of contexts in id order, following next_cursor to the last page (§7.8)."""
        while True:
            page = await self.list_page(level=level, session=session, agent=agent, cursor=cursor, limit=limit, tenant=tenant, timeout=timeout)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    async def end_session(self, session: str, *, action: Optional[str] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> EndSessionAnswer:
        """Ends a session's working memory: its L1 moves to L2 (action "move", the default) or is dropped ("drop") (§7.14)."""
        return await self.request("end_session", _bodies.body(session=session, action=action, tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    async def list_sessions_page(self, *, cursor: Optional[str] = None, limit: Optional[int] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> SessionsPage:
        """One page of the sessions holding L1 or L2 contexts, by name (§7.14)."""
        return await self.request("list_sessions", _bodies.body(cursor=cursor, limit=limit, tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    async def list_sessions(self, *, cursor: Optional[str] = None, limit: Optional[int] = None, tenant: Optional[str] = None, timeout: Optional[float] = None) -> AsyncIterator[SessionsPage]:
        """Every page of sessions, following next_cursor (§7.14)."""
        while True:
            page = await self.list_sessions_page(cursor=cursor, limit=limit, tenant=tenant, timeout=timeout)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    async def stats(self, *, tenant: Optional[str] = None, timeout: Optional[float] = None) -> Stats:
        """How much the tenant holds (§7.9)."""
        return await self.request("stats", _bodies.body(tenant=tenant), timeout=timeout)  # type: ignore[return-value]

    # --- admin ops ------------------------------------------------------------

    async def export_page(
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
        """One page of live contexts as stored, in (tenant, id) order (admin; `export` op)."""
        b = _bodies.export_body(tenant, session, level, cursor, limit, vectors, all_tenants)
        return await self.request("export", b, timeout=timeout)  # type: ignore[return-value]

    async def export(
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
    ) -> AsyncIterator[ExportPage]:
        """Every export page, following next_cursor to the last."""
        while True:
            page = await self.export_page(tenant, session, level, cursor, limit, vectors, all_tenants, timeout=timeout)
            yield page
            cursor = page.get("next_cursor")
            if cursor is None:
                return

    async def import_items(
        self,
        items: Sequence[Dict[str, Any]],
        tenant: Optional[str] = None,
        *,
        vector_space: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> ImportAnswer:
        """Writes exported contexts back with their ids, versions and times (admin; `import` op).

        Any number of items: they go in requests of at most 1000 that fit the
        server's frame limit, one after another; the answer has every item's
        result in order (error paths name the index in `items`). Import is
        idempotent by id and version, so after an error it is safe to send the
        same items again. `vector_space` names the embedder of their vectors.
        """
        items = list(items)
        self._checked({"items": items})
        answers = []
        offset = 0
        limit = self._server_limit("max_frame_bytes")
        for chunk in _bodies.import_chunks(items, limit):
            a = await self.request("import", _bodies.body(items=chunk, tenant=tenant, vector_space=vector_space), timeout=timeout)
            _bodies.shift_item_errors(a.get("results", []), offset)
            answers.append(a)
            offset += len(chunk)
        if not answers:
            raise RequestError("BAD_REQUEST", "import needs at least one item", retryable=False, details={"field": "body.items"})
        return _bodies.merge_import_answers(answers)  # type: ignore[return-value]

    async def purge(self, tenant: str, *, timeout: Optional[float] = None) -> PurgeAnswer:
        """Deletes everything of one tenant, named even when it is the key's own (admin; `purge` op)."""
        return await self.request("purge", {"tenant": tenant}, timeout=timeout)  # type: ignore[return-value]

    async def backup(self, *, timeout: Optional[float] = None) -> BackupAnswer:
        """Has the daemon write a consistent copy of its data on its own host (admin; `backup` op)."""
        return await self.request("backup", {}, timeout=timeout)  # type: ignore[return-value]

    async def rekey(self, cursor: Optional[str] = None, limit: Optional[int] = None, drop_unreadable: Optional[bool] = None, *, timeout: Optional[float] = None) -> RekeyAnswer:
        """One step of re-sealing stored rows with the active data key (admin; `rekey` op, §7.15).

        The daemon reads its data keys again (a key added to its key file is
        the active one from here on), then re-seals up to `limit` rows
        (1..10000, default 1000) after `cursor`, in one commit. Pass
        next_cursor back as cursor until it is None; `remaining` 0 then means
        every row is under `active_kid`. drop_unreadable=True deletes the rows
        of the step that do not open with any key (damaged or altered; they were
        quarantined at load) instead of leaving them. A daemon without
        encryption at rest answers RequestError BAD_REQUEST (details.field
        "encryption").
        """
        return await self.request("rekey", _bodies.body(cursor=cursor, limit=limit, drop_unreadable=drop_unreadable), timeout=timeout)  # type: ignore[return-value]


def _consume(task: "asyncio.Task[Any]") -> None:
    """Marks a connect task's failure as seen, whether or not anyone still waits for it."""
    if not task.cancelled():
        task.exception()


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out

"""Shared test helpers: the daemon under test, daemons of a test's own, a fake ctxd server and a TCP proxy.

The daemon is given by the environment (test/integration/python-client.test.ts sets it):
    CTXD_TEST_PORT, CTXD_TEST_DATA_DIR (its keys.json; or CTXD_TEST_KID + CTXD_TEST_SECRET_HEX),
    CTXD_TEST_HOST (127.0.0.1), CTXD_TEST_DAEMON_PID (to release debug_hold requests with SIGUSR2).
Without CTXD_TEST_PORT the tests that need a daemon skip, unless CTXD_TEST_REQUIRE_DAEMON=1.
A test that needs a daemon with other settings starts its own with OwnDaemon (bin/ctxd.js of this
repository, run by CTXD_TEST_NODE, else node_modules/.bin/node, else the node on PATH).
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import msgpack

import ctxd
from ctxd import wire

HOST = os.environ.get("CTXD_TEST_HOST", "127.0.0.1")
PORT = int(os.environ["CTXD_TEST_PORT"]) if os.environ.get("CTXD_TEST_PORT") else None
DATA_DIR = os.environ.get("CTXD_TEST_DATA_DIR")
DAEMON_PID = int(os.environ["CTXD_TEST_DAEMON_PID"]) if os.environ.get("CTXD_TEST_DAEMON_PID") else None
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

if PORT is None and os.environ.get("CTXD_TEST_REQUIRE_DAEMON") == "1":
    raise RuntimeError("CTXD_TEST_REQUIRE_DAEMON=1 but CTXD_TEST_PORT is not set")

requires_daemon = unittest.skipUnless(PORT is not None, "no daemon under test (set CTXD_TEST_PORT and CTXD_TEST_DATA_DIR)")


def daemon_key() -> ctxd.Key:
    if os.environ.get("CTXD_TEST_KID"):
        return ctxd.Key.of(os.environ["CTXD_TEST_KID"], os.environ["CTXD_TEST_SECRET_HEX"], role="admin")
    key = ctxd.key_from_data_dir(DATA_DIR or ".")
    if key is None:
        raise RuntimeError("no key in %s/keys.json" % DATA_DIR)
    return key


def client(**kw: Any) -> ctxd.Client:
    kw.setdefault("key", daemon_key())
    kw.setdefault("timeout", 10.0)
    return ctxd.Client(HOST, kw.pop("port", PORT), **kw)


def async_client(**kw: Any) -> ctxd.AsyncClient:
    kw.setdefault("key", daemon_key())
    kw.setdefault("timeout", 10.0)
    return ctxd.AsyncClient(HOST, kw.pop("port", PORT), **kw)


_ops: Optional[List[str]] = None


def server_ops() -> List[str]:
    """The ops the daemon's hello lists ([] without a daemon): for skipUnless on ops it may not have yet."""
    global _ops
    if _ops is None:
        if PORT is None:
            _ops = []
        else:
            with client() as c:
                _ops = list((c.server_info or c.hello())["ops"])
    return _ops


def has_op(op: str) -> bool:
    return op in server_ops()


def release_holds() -> None:
    """Opens the daemon's gate of held debug_hold requests (SIGUSR2, PROTOCOL.md §7.10)."""
    if DAEMON_PID is not None:
        os.kill(DAEMON_PID, signal.SIGUSR2)


# --- a daemon of a test's own ------------------------------------------------------


def node_command() -> Optional[str]:
    """The Node that runs bin/ctxd.js (it runs TypeScript, so a recent one): None when there is none."""
    given = os.environ.get("CTXD_TEST_NODE")
    if given:
        return given
    local = os.path.join(REPO_ROOT, "node_modules", ".bin", "node")
    return local if os.access(local, os.X_OK) else shutil.which("node")


def ctxd_cli(*args: str, timeout: float = 60.0) -> str:
    """Runs `ctxd ARGS` (bin/ctxd.js) to its end; its stdout, or AssertionError with its output."""
    node = node_command()
    if node is None:
        raise AssertionError("no node command to run bin/ctxd.js with (set CTXD_TEST_NODE)")
    r = subprocess.run(
        [node, os.path.join(REPO_ROOT, "bin", "ctxd.js"), *args], cwd=REPO_ROOT, env=_daemon_env(), capture_output=True, text=True, timeout=timeout,
    )
    if r.returncode != 0:
        raise AssertionError("ctxd %s exited %d:\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def _daemon_env() -> Dict[str, str]:
    # The small hash embedder, as the daemons test/helpers/daemon.ts starts.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "CTXD_EMBEDDER_KIND": "hash"}


class OwnDaemon:
    """A daemon of the test's own: `ctxd serve` on ephemeral ports with a fresh data dir and these extra flags.

    Its keys.json holds `keys` (default: an admin key and an agent key of tenant "default", as `admin` and
    `agent`); its data dir is `data` in `workdir` (default: a new temp dir). stop() kills it and removes
    that directory. Skips the test when there is no node to run it, unless CTXD_TEST_REQUIRE_DAEMON=1.
    """

    def __init__(self, args: Sequence[str] = (), keys: Optional[List[ctxd.Key]] = None, *, workdir: Optional[str] = None, start_timeout: float = 60.0) -> None:
        node = node_command()
        if node is None:
            if os.environ.get("CTXD_TEST_REQUIRE_DAEMON") == "1":
                raise RuntimeError("CTXD_TEST_REQUIRE_DAEMON=1 but there is no node command to start a daemon with")
            raise unittest.SkipTest("no node command to start a daemon with (set CTXD_TEST_NODE)")
        self.admin = ctxd.Key.of("admin-" + os.urandom(3).hex(), os.urandom(32), role="admin")
        self.agent = ctxd.Key.of("agent-" + os.urandom(3).hex(), os.urandom(32), role="agent")
        self.keys = list(keys) if keys is not None else [self.admin, self.agent]
        #: Holds the data dir, and what else the test put there (`workdir`: a data key file); removed by stop().
        self.dir = workdir or tempfile.mkdtemp(prefix="ctxd-py-daemon-")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        keyring = [{"kid": k.kid, "secret": k.secret.hex(), "tenant": k.tenant, "role": k.role} for k in self.keys]
        fd = os.open(os.path.join(self.data_dir, "keys.json"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": keyring}, f)
        self.logs: List[Dict[str, Any]] = []
        self._stderr: List[str] = []
        self._listening = threading.Event()
        self.port = 0
        self.proc = subprocess.Popen(
            [node, os.path.join(REPO_ROOT, "bin", "ctxd.js"), "serve", "--port", "0", "--http-port", "0", "--data-dir", self.data_dir, *args],
            cwd=REPO_ROOT, env=_daemon_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self._readers = [threading.Thread(target=self._read_logs, daemon=True), threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._readers:
            t.start()
        deadline = time.monotonic() + start_timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                code = self.proc.poll()
                self.stop()
                raise RuntimeError("daemon %s before listening: %s" % ("exited with %s" % code if code is not None else "took too long", "\n".join(self._stderr)))

    def _read_logs(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # read to the end, so the daemon never blocks on a full pipe
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            self.logs.append(entry)
            if entry.get("msg") == "listening":
                self.port = int(entry["port"])
                self._listening.set()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def client(self, key: Optional[ctxd.Key] = None, **kw: Any) -> ctxd.Client:
        kw.setdefault("timeout", 10.0)
        return ctxd.Client(HOST, self.port, key=key or self.admin, **kw)

    def async_client(self, key: Optional[ctxd.Key] = None, **kw: Any) -> ctxd.AsyncClient:
        kw.setdefault("timeout", 10.0)
        return ctxd.AsyncClient(HOST, self.port, key=key or self.admin, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for t in self._readers:  # at the pipes' end now
            t.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def unique(prefix: str) -> str:
    return "%s-%s" % (prefix, os.urandom(4).hex())


def hello_answer(key: ctxd.Key) -> Dict[str, Any]:
    limits = {k: 1000 for k in ctxd.types.Limits.__annotations__}
    limits["max_frame_bytes"] = 4 * 1024 * 1024
    return {
        "server": "ctxd", "version": "fake", "protocol": 1, "max_frame_bytes": 4 * 1024 * 1024, "kid": key.kid,
        "tenant": key.tenant, "role": key.role, "limits": limits, "ops": ["hello", "ping"],
    }


# --- a fake server -------------------------------------------------------------

Action = Tuple[Any, ...]


def _now() -> int:
    return int(time.time() * 1000)


class FakeConnection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.messages: List[Dict[str, Any]] = []
        #: Set when the client closed (or dropped) the connection.
        self.closed = threading.Event()


class FakeServer:
    """A ctxd look-alike on 127.0.0.1 that answers with `key`, as `behave(conn_index, message)` says.

    Actions: ("ok", body) a signed answer; ("bad_tag", body) signed, then the tag changed;
    ("kid", other_kid, body) signed with the right secret under another kid; ("diagnostic", code)
    an unsigned diagnostic frame (§6.1); ("close",) close the connection; ("silent",) no answer.
    """

    def __init__(self, key: ctxd.Key, behave: Callable[[int, Dict[str, Any]], Action], listener: Optional[socket.socket] = None) -> None:
        self.key = key
        self.behave = behave
        self.conns: List[FakeConnection] = []
        self._cond = threading.Condition()
        if listener is None:  # else a socket bound already
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
        self._listener = listener
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> "FakeServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def conn(self, i: int, timeout: float = 5.0) -> FakeConnection:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.conns) > i, timeout):
                raise AssertionError("no connection %d within %g s" % (i, timeout))
            return self.conns[i]

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._cond:
            conns = list(self.conns)
        for c in conns:
            _hard_close(c.sock)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = FakeConnection(sock)
            with self._cond:
                index = len(self.conns)
                self.conns.append(conn)
                self._cond.notify_all()
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn: FakeConnection, index: int) -> None:
        decoder = wire.FrameDecoder(8 * 1024 * 1024)
        try:
            while True:
                data = conn.sock.recv(65536)
                if not data:
                    break
                for frame in decoder.feed(data):
                    message = wire.decode_body(frame.body)
                    with self._cond:
                        conn.messages.append(message)
                        self._cond.notify_all()
                    if not self._act(conn, message, self.behave(index, message)):
                        return
        except OSError:
            pass
        finally:
            conn.closed.set()

    def _act(self, conn: FakeConnection, message: Dict[str, Any], action: Action) -> bool:
        kind = action[0]
        if kind == "silent":
            return True
        if kind == "close":
            _hard_close(conn.sock)
            conn.closed.set()
            return False
        if kind == "diagnostic":
            conn.sock.sendall(diagnostic_frame(action[1]))
            return True
        answer = {"id": message["id"], "ts": _now(), "ok": True, "body": action[-1]}
        if kind == "error":
            answer = {"id": message["id"], "ts": _now(), "ok": False, "error": action[1]}
        kid = action[1] if kind == "kid" else self.key.kid
        frame = bytearray(wire.encode_frame(kid, self.key.secret, answer))
        if kind == "bad_tag":
            frame[-1] ^= 0xFF
        conn.sock.sendall(bytes(frame))
        return True


def diagnostic_frame(code: str, message: str = "fake diagnostic") -> bytes:
    """An unsigned diagnostic frame (kid "", §6.1) with this error code."""
    body = msgpack.packb({"id": "", "ts": _now(), "ok": False, "error": {"code": code, "message": message, "retryable": ctxd.errors.WIRE_CODES[code].retryable}})
    return struct.pack(">IBB", 2 + len(body) + 32, 1, 0) + body + bytes(32)


class RefusingServer:
    """A server that answers every connection, as soon as it is accepted, with one diagnostic, then closes
    (as the daemon refuses a connection over max_connections, or a TLS client whose certificate it refuses)."""

    def __init__(self, code: str, message: str = "fake refusal") -> None:
        self._frame = diagnostic_frame(code, message)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> "RefusingServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._refuse, args=(sock,), daemon=True).start()

    def _refuse(self, sock: socket.socket) -> None:
        try:
            sock.sendall(self._frame)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # read what the client sent until it closes: closing with unread bytes would reset
                pass
        except OSError:
            pass
        finally:
            sock.close()


def answer_all(key: ctxd.Key) -> Callable[[int, Dict[str, Any]], Action]:
    """A behaviour that answers hello as a server would and everything else with {}."""
    return lambda i, m: ("ok", hello_answer(key) if m["op"] == "hello" else {})


def _hard_close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# --- a TCP proxy that can be cut ----------------------------------------------------


class Proxy:
    """Forwards 127.0.0.1:<port> to the daemon; cut() severs every connection it carries.

    Counts the frames each connection carried from the client, so a test can wait
    until a request is on its way before cutting.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._cond = threading.Condition()
        self._pairs: List[Tuple[socket.socket, socket.socket]] = []
        #: Client frames forwarded, per connection.
        self.frames: List[int] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self.frames)

    def wait_frames(self, n: int, timeout: float = 5.0) -> None:
        """Waits until the latest connection has carried n frames from the client."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self.frames) and self.frames[-1] >= n, timeout):
                raise AssertionError("the proxy did not carry %d frames within %g s (%r)" % (n, timeout, self.frames))

    def cut(self) -> None:
        with self._cond:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            _hard_close(a)
            _hard_close(b)

    def close(self) -> None:
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._cond:
                self._pairs.append((down, up))
                self.frames.append(0)
                index = len(self.frames) - 1
            threading.Thread(target=self._pump, args=(down, up, index), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, index: Optional[int]) -> None:
        pending = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if index is not None:  # count whole frames from the client
                    pending += data
                    while len(pending) >= 4 and len(pending) >= 4 + struct.unpack_from(">I", pending)[0]:
                        pending = pending[4 + struct.unpack_from(">I", pending)[0]:]
                        with self._cond:
                            self.frames[index] += 1
                            self._cond.notify_all()
        except OSError:
            pass
        finally:
            _hard_close(src)
            _hard_close(dst)


# --- running the sync client from asyncio tests ---------------------------------------


class SyncAsAsync:
    """Wraps a ctxd.Client so that the same async test scenarios drive it: each call runs in a worker thread."""

    def __init__(self, client: ctxd.Client) -> None:
        self.sync = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sync, name)
        if not callable(attr):
            return attr
        if name in ("list", "export", "list_sessions"):
            return lambda *a, **kw: _iterate(attr(*a, **kw))

        async def call(*a: Any, **kw: Any) -> Any:
            return await asyncio.get_running_loop().run_in_executor(None, lambda: attr(*a, **kw))

        return call


async def _iterate(it: Any) -> Any:
    loop = asyncio.get_running_loop()
    done = object()
    while True:
        page = await loop.run_in_executor(None, next, it, done)
        if page is done:
            return
        yield page

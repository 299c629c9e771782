"""Signatures, diagnostics, timeouts, reconnects, pipelining and closing.

Fake servers and a proxy make each situation happen on purpose; every wait is
on an event (a connection accepted, a frame carried, an exception raised),
never on a sleep.
"""
import asyncio
import gc
import os
import socket
import time
import unittest
import warnings
from concurrent.futures import ThreadPoolExecutor

import ctxd

import support
from support import FakeServer, Proxy, RefusingServer, answer_all, has_op, hello_answer, requires_daemon

KEY = ctxd.Key.of("py-test-key", bytes(range(32)), role="admin")


def fake_client(server, **kw):
    kw.setdefault("max_reconnect_attempts", 2)
    kw.setdefault("timeout", 5.0)
    return ctxd.Client(port=server.port, key=KEY, **kw)


class SignatureTest(unittest.TestCase):
    def test_an_answer_with_a_bad_tag_drops_the_connection_and_the_next_request_reconnects(self):
        def behave(conn, m):
            if m["op"] == "hello":
                return ("ok", hello_answer(KEY))
            return ("bad_tag", {}) if conn == 0 else ("ok", {})

        with FakeServer(KEY, behave) as server:
            c = fake_client(server)
            self.addCleanup(c.close)
            with self.assertRaises(ctxd.AuthError) as cm:
                c.ping()
            self.assertEqual((cm.exception.code, cm.exception.retryable), ("BAD_SIGNATURE", False))
            self.assertTrue(server.conn(0).closed.wait(5), "the client did not drop the connection")
            self.assertEqual(c.ping(), {})
            self.assertEqual(c.connections_opened, 2)
            self.assertEqual([m["op"] for m in server.conn(1).messages], ["hello", "ping"])  # hello first, again

    def test_an_answer_under_another_kid_is_a_bad_signature(self):
        def behave(conn, m):
            return ("ok", hello_answer(KEY)) if m["op"] == "hello" else ("kid", "someone-else", {})

        with FakeServer(KEY, behave) as server:
            c = fake_client(server)
            self.addCleanup(c.close)
            with self.assertRaises(ctxd.AuthError) as cm:
                c.ping()
            self.assertEqual(cm.exception.code, "BAD_SIGNATURE")
            self.assertTrue(server.conn(0).closed.wait(5))

    def test_a_diagnostic_fails_what_is_in_flight_with_its_code(self):
        def behave(conn, m):
            if m["op"] == "hello":
                return ("ok", hello_answer(KEY))
            return ("diagnostic", "OVERLOADED") if conn == 0 else ("ok", {"n": 1})

        with FakeServer(KEY, behave) as server:
            c = fake_client(server)
            self.addCleanup(c.close)
            with self.assertRaises(ctxd.UnavailableError) as cm:
                c.ping()
            self.assertEqual((cm.exception.code, cm.exception.retryable), ("OVERLOADED", True))
            self.assertTrue(server.conn(0).closed.wait(5))
            self.assertEqual(c.request("anything"), {"n": 1})


class RefusedConnectionTest(unittest.IsolatedAsyncioTestCase):
    """A server that refuses a connection as soon as it opens: each call raises the refusal, connecting once."""

    async def test_a_refusal_that_arrives_before_hello_is_written(self):
        loop = asyncio.get_running_loop()
        real_connect = loop.create_connection

        async def connect_then_wait_for_the_refusal(*a, **kw):
            transport, conn = await real_connect(*a, **kw)
            await asyncio.wait_for(asyncio.shield(conn.closed), 5)  # the diagnostic came, the connection closed
            return transport, conn

        loop.create_connection = connect_then_wait_for_the_refusal
        self.addCleanup(delattr, loop, "create_connection")
        with RefusingServer("FORBIDDEN", "client certificate refused") as server:
            c = ctxd.AsyncClient(port=server.port, key=KEY, max_reconnect_attempts=8, timeout=5.0)
            self.addAsyncCleanup(c.close)
            for n, call in enumerate((c.connect, c.ping), 1):
                with self.assertRaises(ctxd.AuthError) as cm:
                    await call()
                self.assertEqual((cm.exception.code, cm.exception.message, cm.exception.retryable), ("FORBIDDEN", "client certificate refused", False))
                self.assertEqual(server.connections, n)

    def test_a_refusal_that_arrives_any_time(self):
        with RefusingServer("OVERLOADED", "max_connections reached") as server:
            c = ctxd.Client(port=server.port, key=KEY, max_reconnect_attempts=8, timeout=5.0)
            self.addCleanup(c.close)
            for n in range(1, 6):
                with self.assertRaises(ctxd.UnavailableError) as cm:
                    c.connect() if n == 1 else c.ping()
                self.assertEqual((cm.exception.code, cm.exception.retryable), ("OVERLOADED", True))
                self.assertEqual(server.connections, n)


class WrongKeyTest(unittest.IsolatedAsyncioTestCase):
    @requires_daemon
    def test_a_wrong_secret_is_refused_by_the_daemon_sync(self):
        c = ctxd.Client(support.HOST, support.PORT, key=ctxd.Key.of(support.daemon_key().kid, os.urandom(32)), max_reconnect_attempts=0)
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.AuthError) as cm:
            c.connect()
        self.assertEqual((cm.exception.code, cm.exception.retryable), ("BAD_SIGNATURE", False))
        self.assertFalse(c.connected)

    @requires_daemon
    async def test_a_wrong_secret_is_refused_by_the_daemon_async(self):
        async with _closing(ctxd.AsyncClient(support.HOST, support.PORT, key=ctxd.Key.of(support.daemon_key().kid, os.urandom(32)), max_reconnect_attempts=0)) as c:
            with self.assertRaises(ctxd.AuthError) as cm:
                await c.connect()
            self.assertEqual(cm.exception.code, "BAD_SIGNATURE")

    @requires_daemon
    async def test_an_unknown_kid_is_refused_by_the_daemon(self):
        async with _closing(ctxd.AsyncClient(support.HOST, support.PORT, key=ctxd.Key.of("no-such-kid", os.urandom(32)), max_reconnect_attempts=0)) as c:
            with self.assertRaises(ctxd.AuthError) as cm:
                await c.connect()
            self.assertEqual(cm.exception.code, "UNKNOWN_KEY")


class TimeoutTest(unittest.IsolatedAsyncioTestCase):
    async def test_a_silent_server_times_out_and_the_connection_stays(self):
        with FakeServer(KEY, lambda conn, m: ("ok", hello_answer(KEY)) if m["op"] == "hello" else ("silent",) if m["op"] == "slow" else ("ok", {})) as server:
            async with _closing(ctxd.AsyncClient(port=server.port, key=KEY, timeout=5)) as c:
                started = time.monotonic()
                with self.assertRaises(ctxd.TimeoutError) as cm:
                    await c.request("slow", timeout=0.2)
                self.assertGreaterEqual(time.monotonic() - started, 0.2)
                self.assertEqual((cm.exception.code, cm.exception.retryable), ("TIMEOUT", True))
                self.assertEqual(c.inflight, 0)
                self.assertEqual(await c.ping(), {})
                self.assertEqual(c.connections_opened, 1)

    @requires_daemon
    @unittest.skipUnless(has_op("debug_hold"), "the daemon runs without debug.enable_ops")
    def test_a_held_request_times_out_sync(self):
        c = support.client()
        self.addCleanup(c.close)
        try:
            with self.assertRaises(ctxd.TimeoutError):
                c.request("debug_hold", {"ms": 60000 if support.DAEMON_PID else 3000}, timeout=0.3)
            self.assertEqual(c.ping(), {})  # answers after a timeout go on; the late one is dropped
            self.assertEqual(c.connections_opened, 1)
        finally:
            support.release_holds()


class ReconnectTest(unittest.IsolatedAsyncioTestCase):
    def test_the_server_closes_then_the_next_request_reconnects(self):
        def behave(conn, m):
            if m["op"] == "hello":
                return ("ok", hello_answer(KEY))
            return ("close",) if conn == 0 else ("ok", {})

        with FakeServer(KEY, behave) as server:
            c = fake_client(server)
            self.addCleanup(c.close)
            with self.assertRaises(ctxd.ConnectionError) as cm:
                c.ping()
            self.assertEqual((cm.exception.code, cm.exception.retryable), ("CONNECTION_CLOSED", True))
            self.assertEqual(c.ping(), {})
            self.assertEqual(c.connections_opened, 2)
            self.assertEqual(server.conn(1).messages[0]["op"], "hello")

    @requires_daemon
    @unittest.skipUnless(has_op("debug_hold"), "the daemon runs without debug.enable_ops")
    async def test_a_cut_connection_to_the_daemon_is_made_again(self):
        proxy = Proxy(support.PORT)
        self.addCleanup(proxy.close)
        async with _closing(support.async_client(port=proxy.port, max_reconnect_attempts=3)) as c:
            self.assertEqual(await c.ping(), {})
            held = asyncio.ensure_future(c.request("debug_hold", {"ms": 60000 if support.DAEMON_PID else 3000}))
            try:
                await asyncio.get_running_loop().run_in_executor(None, proxy.wait_frames, 3)  # hello, ping, debug_hold
                proxy.cut()
                with self.assertRaises(ctxd.ConnectionError) as cm:
                    await held
                self.assertEqual(cm.exception.code, "CONNECTION_CLOSED")
                self.assertEqual(await c.ping(), {})
                self.assertEqual(await c.stats(), await c.stats())
                self.assertEqual((c.connections_opened, proxy.connections), (2, 2))
            finally:
                support.release_holds()

    async def test_backoff_gives_up_after_its_attempts(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))  # bound, not listening: refused
        self.addCleanup(s.close)
        c = ctxd.AsyncClient(port=s.getsockname()[1], key=KEY, max_reconnect_attempts=3, reconnect_base=0.02, reconnect_max=0.05)
        started = time.monotonic()
        with self.assertRaises(ctxd.ConnectionError) as cm:
            await c.ping()
        # Three waits of at least half of 0.02, 0.04 and 0.05 s (jitter is 0.5..1).
        self.assertGreaterEqual(time.monotonic() - started, 0.5 * (0.02 + 0.04 + 0.05))
        self.assertIn("cannot connect", cm.exception.message)
        await c.close()

    async def test_a_server_that_comes_back_is_found_by_the_backoff(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))  # refused until the fake server listens on it
        loop = asyncio.get_running_loop()
        real_connect = loop.create_connection
        refused = asyncio.Event()

        async def watched_connect(*a, **kw):
            try:
                return await real_connect(*a, **kw)
            except OSError:
                refused.set()
                raise

        loop.create_connection = watched_connect
        self.addCleanup(delattr, loop, "create_connection")
        c = ctxd.AsyncClient(port=listener.getsockname()[1], key=KEY, max_reconnect_attempts=50, reconnect_base=0.01, reconnect_max=0.05)
        task = asyncio.ensure_future(c.ping())
        await asyncio.wait_for(refused.wait(), 5)
        with FakeServer(KEY, answer_all(KEY), listener=listener) as server:
            self.assertEqual(await task, {})
            self.assertEqual(server.conn(0).messages[0]["op"], "hello")
            await c.close()


class EventLoopTest(unittest.TestCase):
    def test_an_async_client_can_move_to_a_new_event_loop(self):
        with FakeServer(KEY, answer_all(KEY)) as server:
            c = ctxd.AsyncClient(port=server.port, key=KEY)
            with warnings.catch_warnings():
                # The first loop ends with the client still open: its transport is reported unclosed when collected.
                warnings.simplefilter("ignore", ResourceWarning)
                self.assertEqual(asyncio.run(c.ping()), {})
                self.assertEqual(asyncio.run(c.ping()), {})  # the first loop is closed: a new connection on the new one
                self.assertEqual(c.connections_opened, 2)
                self.assertTrue(server.conn(0).closed.wait(5))
                asyncio.run(c.close())
                gc.collect()

    def test_the_sync_client_works_inside_a_running_event_loop(self):
        async def main():
            with FakeServer(KEY, answer_all(KEY)) as server, fake_client(server) as c:
                return c.ping()  # blocks this loop, but the client's own loop thread serves it

        self.assertEqual(asyncio.run(main()), {})


class PipeliningTest(unittest.IsolatedAsyncioTestCase):
    @requires_daemon
    async def test_many_requests_in_flight_on_one_connection(self):
        async with _closing(support.async_client()) as c:
            session = support.unique("pipe")
            stored = await asyncio.gather(*[c.store("pipelined context %d %s" % (i, support.unique("x")), 2, session=session) for i in range(30)])
            ids = [s["id"] for s in stored] * 10
            got = await asyncio.gather(*[c.get(i) for i in ids], *[c.ping() for _ in range(100)])
            self.assertEqual([g["id"] for g in got[:len(ids)]], ids)  # each answer to its own request
            self.assertEqual(got[len(ids):], [{}] * 100)
            self.assertEqual(c.connections_opened, 1)

    @requires_daemon
    @unittest.skipUnless(has_op("debug_hold") and support.DAEMON_PID, "needs debug_hold and the daemon's pid")
    async def test_a_held_request_does_not_hold_up_the_others(self):
        async with _closing(support.async_client()) as c:
            await c.connect()
            held = asyncio.ensure_future(c.request("debug_hold", {"ms": 60000}, timeout=30))
            try:
                self.assertEqual(await c.ping(), {})  # sent behind the held one, answered before it
                self.assertFalse(held.done())
                self.assertEqual(c.inflight, 1)
            finally:
                support.release_holds()
            self.assertIn("held_ms", await held)

    @requires_daemon
    def test_the_sync_client_is_shared_by_threads(self):
        with support.client() as c:
            session = support.unique("threads")

            def work(i):
                r = c.store("thread %d context %s" % (i, support.unique("x")), 2, session=session)
                assert c.get(r["id"])["id"] == r["id"]
                return c.ping()

            with ThreadPoolExecutor(8) as pool:
                self.assertEqual(list(pool.map(work, range(64))), [{}] * 64)
            self.assertEqual(c.connections_opened, 1)


class CloseTest(unittest.IsolatedAsyncioTestCase):
    async def test_close_fails_what_is_in_flight_and_refuses_more(self):
        with FakeServer(KEY, lambda conn, m: ("ok", hello_answer(KEY)) if m["op"] == "hello" else ("silent",)) as server:
            c = ctxd.AsyncClient(port=server.port, key=KEY)
            await c.connect()
            pending = asyncio.ensure_future(c.request("never_answered"))
            await asyncio.get_running_loop().run_in_executor(None, _wait_for_message, server, "never_answered")
            await c.close()
            with self.assertRaises(ctxd.ConnectionError) as cm:
                await pending
            self.assertFalse(cm.exception.retryable)
            with self.assertRaises(ctxd.ConnectionError):
                await c.ping()
            self.assertTrue(server.conn(0).closed.wait(5))

    def test_closing_the_sync_client_releases_a_blocked_caller(self):
        with FakeServer(KEY, lambda conn, m: ("ok", hello_answer(KEY)) if m["op"] == "hello" else ("silent",)) as server:
            c = fake_client(server, timeout=30)
            c.connect()
            with ThreadPoolExecutor(1) as pool:
                blocked = pool.submit(c.request, "never_answered")
                _wait_for_message(server, "never_answered")
                c.close()
                with self.assertRaises(ctxd.ConnectionError):
                    blocked.result(5)


def _wait_for_message(server, op, timeout=5.0):
    with server._cond:
        if not server._cond.wait_for(lambda: any(m["op"] == op for conn in server.conns for m in conn.messages), timeout):
            raise AssertionError("%s never arrived" % op)


class _closing:
    """async with for an AsyncClient that may fail to connect."""

    def __init__(self, client):
        self.client = client

    async def __aenter__(self):
        return self.client

    async def __aexit__(self, *exc):
        await self.client.close()


if __name__ == "__main__":
    unittest.main()

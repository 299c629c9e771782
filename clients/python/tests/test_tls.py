"""TLS on the agent port (PROTOCOL.md §1): `tls=` on Client and AsyncClient.

The options themselves need no daemon. The rest runs against daemons that
test/integration/python-client.test.ts starts with certificates it makes
(test/helpers/certs.ts), given by the environment:

    CTXD_TEST_TLS_PORT        a daemon with tls.client_auth=tenant (its CA: CTXD_TEST_TLS_CA)
    CTXD_TEST_TLS_DATA_DIR    its data dir: an admin key of tenant "default", an agent key of tenant "other"
    CTXD_TEST_TLS_CLIENT_CERT/_KEY    a client certificate for tenant "default" (CN=default)
    CTXD_TEST_TLS_OTHER_CERT/_KEY     a client certificate for tenant "other" (CN=other)
    CTXD_TEST_TLS_STRANGER_CERT/_KEY  a client certificate signed by a CA the daemon does not trust
    CTXD_TEST_TLS_OTHER_CA            that CA (a client that trusts only it cannot verify the daemon)
    CTXD_TEST_TLS_EXPIRED_PORT        a daemon (client_auth none) whose certificate, signed by CTXD_TEST_TLS_CA, has expired
    CTXD_TEST_TLS_SERVER_CERT/_KEY    the daemon's certificate (for a server here that refuses client certificates with an alert)

Without CTXD_TEST_TLS_PORT those tests skip, unless CTXD_TEST_REQUIRE_TLS=1.
"""
import asyncio
import os
import socket
import ssl
import tempfile
import threading
import time
import unittest
from typing import Any, Dict, Optional

import ctxd
from ctxd import wire
from ctxd.tls import resolve_tls

import support
from support import Proxy, unique

HOST = support.HOST
TLS_PORT = int(os.environ["CTXD_TEST_TLS_PORT"]) if os.environ.get("CTXD_TEST_TLS_PORT") else None
EXPIRED_PORT = int(os.environ["CTXD_TEST_TLS_EXPIRED_PORT"]) if os.environ.get("CTXD_TEST_TLS_EXPIRED_PORT") else None

if os.environ.get("CTXD_TEST_REQUIRE_TLS") == "1" and (TLS_PORT is None or EXPIRED_PORT is None):
    raise RuntimeError("CTXD_TEST_REQUIRE_TLS=1 but CTXD_TEST_TLS_PORT or CTXD_TEST_TLS_EXPIRED_PORT is not set")

requires_tls = unittest.skipUnless(TLS_PORT is not None, "no TLS daemon under test (set CTXD_TEST_TLS_PORT and the CTXD_TEST_TLS_* files)")
#: X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN (the server sends its CA along) or X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY.
UNTRUSTED = (19, 20)

requires_expired = unittest.skipUnless(EXPIRED_PORT is not None, "no daemon with an expired certificate (set CTXD_TEST_TLS_EXPIRED_PORT)")


def env(name: str) -> str:
    return os.environ["CTXD_TEST_TLS_" + name]


def tls_key(tenant: str = "default") -> ctxd.Key:
    """A key of the TLS daemon's keyring: tenant "default" is its admin key."""
    keys = ctxd.read_keyring(os.path.join(env("DATA_DIR"), "keys.json")) or []
    for k in keys:
        if k.tenant == tenant:
            return k
    raise AssertionError("no key of tenant %s in %s/keys.json" % (tenant, env("DATA_DIR")))


def options(cert: Optional[str] = "CLIENT", ca: str = "CA", **kw: Any) -> ctxd.TlsOptions:
    """TlsOptions trusting the env's `ca` and presenting the env's `cert` client certificate (None: none)."""
    return ctxd.TlsOptions(ca=env(ca), cert=env(cert + "_CERT") if cert else None, key=env(cert + "_KEY") if cert else None, **kw)


def context(max_version: ssl.TLSVersion, cert: Optional[str] = None) -> ssl.SSLContext:
    """An SSLContext of the caller's own, capped at `max_version`."""
    ctx = ssl.create_default_context(cafile=env("CA"))
    ctx.maximum_version = max_version
    if cert:
        ctx.load_cert_chain(env(cert + "_CERT"), env(cert + "_KEY"))
    return ctx


def client(tls: Any, port: Optional[int] = None, host: str = HOST, **kw: Any) -> ctxd.Client:
    kw.setdefault("key", tls_key())
    kw.setdefault("timeout", 10.0)
    return ctxd.Client(host, port if port is not None else TLS_PORT, tls=tls, **kw)


def async_client(tls: Any, port: Optional[int] = None, **kw: Any) -> ctxd.AsyncClient:
    kw.setdefault("key", tls_key())
    kw.setdefault("timeout", 10.0)
    return ctxd.AsyncClient(HOST, port if port is not None else TLS_PORT, tls=tls, **kw)


# --- the options, no daemon -------------------------------------------------------------


class TlsOptionsTest(unittest.TestCase):
    def test_options_make_a_context_that_verifies_the_server(self):
        r = resolve_tls(ctxd.TlsOptions(), "127.0.0.1")
        assert r is not None
        self.assertEqual(r.context.minimum_version, ssl.TLSVersion.TLSv1_2)
        self.assertEqual(r.context.verify_mode, ssl.CERT_REQUIRED)
        self.assertTrue(r.context.check_hostname)
        self.assertEqual(r.server_hostname, "127.0.0.1")  # an IP host: its IP SAN is checked
        self.assertEqual(resolve_tls(ctxd.TlsOptions(servername="ctxd.internal"), "10.0.0.7").server_hostname, "ctxd.internal")
        self.assertEqual(resolve_tls(True, "ctxd.example").server_hostname, "ctxd.example")

    def test_a_context_of_ones_own_is_used_as_given_and_a_dict_is_options(self):
        ctx = ssl.create_default_context()
        self.assertIs(resolve_tls(ctx, "h").context, ctx)
        r = resolve_tls(ctxd.TlsOptions(context=ctx, servername="n"), "h")
        self.assertEqual((r.context, r.server_hostname), (ctx, "n"))
        self.assertEqual(resolve_tls({"servername": "x"}, "h").server_hostname, "x")
        self.assertIsNone(resolve_tls(None, "h"))
        self.assertIsNone(resolve_tls(False, "h"))

    def test_wrong_options_fail_when_the_client_is_made(self):
        with tempfile.TemporaryDirectory() as d:
            junk = os.path.join(d, "junk.pem")
            with open(junk, "w") as f:
                f.write("not a certificate\n")
            cases = [
                (ctxd.TlsOptions(ca=os.path.join(d, "missing.pem")), ValueError, "missing.pem"),
                (ctxd.TlsOptions(ca=junk), ValueError, "junk.pem"),
                (ctxd.TlsOptions(cert=junk, key=junk), ValueError, "junk.pem"),
                (ctxd.TlsOptions(key=junk), ValueError, "key given without cert"),
                (ctxd.TlsOptions(context=ssl.create_default_context(), ca=junk), ValueError, "either context"),
                ({"cafile": junk}, TypeError, "cafile"),
                (42, TypeError, "int"),
            ]
            for tls, exc, text in cases:
                with self.subTest(tls=tls):
                    with self.assertRaises(exc) as cm:
                        ctxd.Client(port=1, key=ctxd.Key.of("k", bytes(32)), tls=tls)
                    self.assertIn(text, str(cm.exception))

    @requires_tls
    def test_a_key_that_does_not_match_the_certificate_is_refused(self):
        with self.assertRaises(ValueError) as cm:
            resolve_tls(ctxd.TlsOptions(cert=env("CLIENT_CERT"), key=env("OTHER_KEY")), "h")
        self.assertIn("client certificate", str(cm.exception))


# --- a good handshake --------------------------------------------------------------------


class SmokeScenarios:
    """Every op over TLS with a client certificate of tenant "default" (client_auth: tenant). self.c is set by asyncSetUp."""

    c: Any

    async def test_hello_ping_store_retrieve_over_tls(self):
        h = await self.c.hello()
        self.assertEqual((h["server"], h["kid"], h["tenant"], h["role"]), ("ctxd", tls_key().kid, "default", "admin"))
        self.assertEqual(self.c.server_info["kid"], h["kid"])
        self.assertEqual(await self.c.ping(), {})
        session = unique("tls")
        stored = await self.c.store("The TLS deploy runbook lives in the ops wiki", 2, session=session, tags=["tls"])
        self.assertEqual(stored["level"], 2)
        hits = await self.c.retrieve("TLS deploy runbook", session=session, levels=[2])
        self.assertEqual([ctx["id"] for ctx in hits["contexts"]], [stored["id"]])
        self.assertEqual((await self.c.get(stored["id"]))["text"], "The TLS deploy runbook lives in the ops wiki")
        self.assertIn(self.c.tls_version, ("TLSv1.2", "TLSv1.3"))
        self.assertTrue(self.c.tls)
        self.assertEqual(self.c.connections_opened, 1)

    async def test_many_requests_pipelined_over_tls(self):
        session = unique("tls-many")
        results = await asyncio.gather(*(self.c.store("tls note %d" % i, 1, session=session) for i in range(50)))
        self.assertEqual(len({r["id"] for r in results}), 50)
        self.assertEqual(self.c.connections_opened, 1)


@requires_tls
class AsyncSmokeTest(SmokeScenarios, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.c = async_client(options())
        await self.c.connect()

    async def asyncTearDown(self):
        await self.c.close()


@requires_tls
class SyncSmokeTest(SmokeScenarios, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.sync = client(options())
        self.c = support.SyncAsAsync(self.sync)
        await self.c.connect()

    async def asyncTearDown(self):
        await asyncio.get_running_loop().run_in_executor(None, self.sync.close)


@requires_tls
class HandshakeTest(unittest.TestCase):
    def test_a_host_name_is_checked_against_the_certificate(self):
        for host, tls in (("localhost", options()), (HOST, options(servername="localhost"))):
            with self.subTest(host=host), client(tls, host=host) as c:
                self.assertEqual(c.ping(), {})
        c = client(options(servername="not-this-server.example"), max_reconnect_attempts=8)
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.TlsError) as cm:
            c.connect()
        self.assertEqual((cm.exception.details["tls_reason"], cm.exception.details["verify_code"]), ("CERTIFICATE_VERIFY_FAILED", 62))  # X509_V_ERR_HOSTNAME_MISMATCH
        self.assertIn("not-this-server.example", cm.exception.message)

    def test_tls_1_2_and_1_3(self):
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            with self.subTest(version=name), client(context(version, cert="CLIENT")) as c:
                self.assertEqual(c.ping(), {})
                self.assertEqual(c.tls_version, name)

    def test_a_tenant_key_with_its_own_tenant_certificate(self):
        with client(options("OTHER"), key=tls_key("other")) as c:
            self.assertEqual((c.server_info["tenant"], c.server_info["role"]), ("other", "agent"))
            session = unique("other")
            stored = c.store("Tenant other keeps its notes apart", 1, session=session)
            self.assertEqual(c.get(stored["id"])["session"], session)


# --- refusals ----------------------------------------------------------------------------


class AlertingServer:
    """A TLS server on 127.0.0.1 (the daemon's certificate) that needs a client certificate and refuses a missing one
    the way TLS does, with an alert (unlike the daemon, which answers a diagnostic): during the handshake in TLS 1.2,
    after the client thinks it done in TLS 1.3. Driven through memory BIOs so that the alert is written, then what
    the client sends is read to its end (closing with unread bytes would reset the connection under the alert)."""

    def __init__(self) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(env("SERVER_CERT"), env("SERVER_KEY"))
        self.ctx.load_verify_locations(env("CA"))
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.refused: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ctx.wrap_bio(incoming, outgoing, server_side=True)
        sock.settimeout(10)
        try:
            while True:
                try:
                    tls.do_handshake()
                    return  # a client with a certificate: not what these tests send
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    data = sock.recv(65536)
                    if not data:
                        return
                    incoming.write(data)
        except ssl.SSLError as e:
            self.refused.append(e.reason)
            sock.sendall(outgoing.read())  # the alert
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()


@requires_tls
class RefusalTest(unittest.IsolatedAsyncioTestCase):
    def proxied(self, port: Optional[int] = None) -> Proxy:
        """A TCP proxy in front of the daemon: it counts the connections a client makes."""
        proxy = Proxy(port if port is not None else TLS_PORT)
        self.addCleanup(proxy.close)
        return proxy

    def assert_verify_failed(self, e: ctxd.TlsError, *verify_codes: int) -> None:
        """A TlsError, not retryable, for a server certificate that failed with one of these X509_V_ERR codes."""
        self.assertIsInstance(e, ctxd.ConnectionError)
        self.assertEqual((e.code, e.retryable), ("CONNECTION_CLOSED", False))
        self.assertEqual(e.details["tls_reason"], "CERTIFICATE_VERIFY_FAILED")
        self.assertIn(e.details["verify_code"], verify_codes, e.details)
        self.assertIn("certificate did not verify: " + e.details["verify_message"], e.message)

    def test_a_server_certificate_of_an_untrusted_ca_is_refused_once_not_retried(self):
        proxy = self.proxied()
        c = client(options(ca="OTHER_CA"), port=proxy.port, max_reconnect_attempts=8)  # backoff would retry a connect failure 8 times
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.TlsError) as cm:
            c.connect()
        self.assert_verify_failed(cm.exception, *UNTRUSTED)
        self.assertEqual(proxy.connections, 1)
        with self.assertRaises(ctxd.TlsError):  # the next call tries once more, and fails as fast
            c.ping()
        self.assertEqual(proxy.connections, 2)
        self.assertFalse(c.connected)
        self.assertEqual(c.connections_opened, 0)

    async def test_a_server_certificate_of_an_untrusted_ca_is_refused_async(self):
        c = async_client(options(ca="OTHER_CA"))
        self.addAsyncCleanup(c.close)
        with self.assertRaises(ctxd.TlsError) as cm:
            await c.ping()
        self.assert_verify_failed(cm.exception, *UNTRUSTED)

    @requires_expired
    def test_an_expired_server_certificate_is_refused(self):
        proxy = self.proxied(EXPIRED_PORT)
        c = client(ctxd.TlsOptions(ca=env("CA")), port=proxy.port, max_reconnect_attempts=8)
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.TlsError) as cm:
            c.connect()
        self.assert_verify_failed(cm.exception, 10)  # X509_V_ERR_CERT_HAS_EXPIRED
        self.assertIn("certificate has expired", cm.exception.message)
        self.assertEqual(proxy.connections, 1)

    def assert_forbidden(self, e: ctxd.CtxdError, text: str) -> None:
        self.assertIsInstance(e, ctxd.AuthError)
        self.assertEqual((e.code, e.retryable), ("FORBIDDEN", False))
        self.assertIn(text, e.message)

    def test_no_client_certificate_is_forbidden_whatever_the_tls_version(self):
        # TLS 1.2: the daemon's diagnostic may come before hello is written; TLS 1.3: after. FORBIDDEN either way, once.
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                proxy = self.proxied()
                c = client(context(version), port=proxy.port, max_reconnect_attempts=8)
                self.addCleanup(c.close)
                with self.assertRaises(ctxd.AuthError) as cm:
                    c.connect()
                self.assert_forbidden(cm.exception, "client certificate")
                self.assertEqual(proxy.connections, 1)
                # Once more, connecting again: refused as fast. (connect, not a request: a request written behind
                # hello can meet the reset of a daemon that closed on its diagnostic unread, and see the connection
                # closed instead of FORBIDDEN, about once in 600 tries.)
                with self.assertRaises(ctxd.AuthError) as cm:
                    c.connect()
                self.assert_forbidden(cm.exception, "client certificate")
                self.assertEqual(proxy.connections, 2)

    async def test_no_client_certificate_is_forbidden_async(self):
        c = async_client(options(cert=None))
        self.addAsyncCleanup(c.close)
        with self.assertRaises(ctxd.AuthError) as cm:
            await c.connect()
        self.assert_forbidden(cm.exception, "client certificate")

    def test_a_client_certificate_of_an_untrusted_ca_is_forbidden(self):
        c = client(options("STRANGER"))
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.AuthError) as cm:
            c.connect()
        self.assert_forbidden(cm.exception, "client certificate")

    def test_another_tenants_certificate_refuses_each_frame_and_keeps_the_connection(self):
        c = client(options("OTHER"))  # CN=other, with the admin key of tenant default
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.AuthError) as cm:
            c.connect()  # hello itself is refused
        self.assert_forbidden(cm.exception, "tenant other")
        for call in (c.ping, lambda: c.store("not for tenant other", 1), c.hello):
            with self.assertRaises(ctxd.AuthError) as cm:
                call()
            self.assert_forbidden(cm.exception, "tenant other")
        self.assertTrue(c.connected)
        self.assertEqual(c.connections_opened, 1)

    def test_on_one_connection_another_tenants_frame_is_refused_and_the_certificates_tenant_served(self):
        """Raw frames on one TLS connection (CN=other): the admin key of default is FORBIDDEN, the key of other answered."""
        admin, other = tls_key(), tls_key("other")
        ctx = context(ssl.TLSVersion.TLSv1_3, cert="OTHER")
        with socket.create_connection((HOST, TLS_PORT), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname=HOST) as s:
            decoder = wire.FrameDecoder(1 << 20)
            pending = []

            def ask(key: ctxd.Key, op: str) -> Dict[str, Any]:
                rid = unique(op)
                s.sendall(wire.encode_frame(key.kid, key.secret, {"id": rid, "ts": int(time.time() * 1000), "op": op, "body": {}}))
                while not pending:
                    data = s.recv(65536)
                    if not data:
                        raise AssertionError("the daemon closed the connection")
                    pending.extend(decoder.feed(data))
                frame = pending.pop(0)
                self.assertEqual(frame.kid, key.kid)  # an answer, signed, not a diagnostic
                self.assertTrue(wire.verify(key.secret, frame))
                answer = wire.decode_body(frame.body)
                self.assertEqual(answer["id"], rid)
                return answer

            refused = ask(admin, "ping")
            self.assertEqual((refused["ok"], refused["error"]["code"]), (False, "FORBIDDEN"))
            hello = ask(other, "hello")
            self.assertEqual((hello["ok"], hello["body"]["tenant"]), (True, "other"))
            self.assertEqual(ask(admin, "ping")["error"]["code"], "FORBIDDEN")
            self.assertEqual((ask(other, "ping")["ok"], ask(admin, "hello")["error"]["code"]), (True, "FORBIDDEN"))

    def test_a_client_certificate_refused_by_a_tls_alert_is_a_tls_error_not_retried(self):
        # Not the daemon's way (it answers FORBIDDEN), but a TLS-terminating proxy's: TLS 1.2 fails the handshake,
        # TLS 1.3 ends the connection the client already thought open, with the hello in flight.
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with self.subTest(version=version.name):
                server = AlertingServer()
                self.addCleanup(server.close)
                c = client(context(version), port=server.port, max_reconnect_attempts=8)
                self.addCleanup(c.close)
                for n in (1, 2):
                    with self.assertRaises(ctxd.TlsError) as cm:
                        c.connect() if n == 1 else c.ping()
                    self.assertFalse(cm.exception.retryable)
                    self.assertIn("alert", cm.exception.message)
                    self.assertEqual(server.connections, n)

    def test_a_plaintext_client_is_told_the_port_speaks_tls_only(self):
        proxy = self.proxied()
        c = client(None, port=proxy.port, max_reconnect_attempts=8)
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.FramingError) as cm:
            c.connect()
        self.assertEqual((cm.exception.code, cm.exception.retryable), ("BAD_FRAME", False))
        self.assertIn("TLS only", cm.exception.message)
        self.assertEqual(proxy.connections, 1)

    @support.requires_daemon
    def test_a_tls_client_on_a_plaintext_port_is_told_it_is_not_tls(self):
        c = client(options(), port=support.PORT, key=support.daemon_key(), max_reconnect_attempts=8)
        self.addCleanup(c.close)
        with self.assertRaises(ctxd.TlsError) as cm:
            c.connect()
        self.assertFalse(cm.exception.retryable)
        self.assertIn("plaintext port", cm.exception.message)


if __name__ == "__main__":
    unittest.main()

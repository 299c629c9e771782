"""Frames, golden vectors, the value model, the error table, keys and import chunking: no daemon needed."""
import glob
import json
import os
import pickle
import socket
import tempfile
import unittest

import msgpack

import ctxd
from ctxd import _bodies, wire
from ctxd.errors import ERROR_CLASSES, WIRE_CODES, error_from_wire

from support import REPO_ROOT

VECTORS = os.path.join(REPO_ROOT, "protocol", "vectors")


def _vectors(pattern):
    files = sorted(glob.glob(os.path.join(VECTORS, pattern)))
    if not files:
        raise unittest.SkipTest("no protocol vectors at %s" % VECTORS)
    out = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            out.append(json.load(fh))
    return out


class GoldenVectorsTest(unittest.TestCase):
    def test_valid_frames_decode_verify_and_reencode(self):
        for v in _vectors("[!r]*.json"):
            with self.subTest(v["name"]):
                data = bytes.fromhex(v["frame_hex"])
                frames = wire.FrameDecoder(1 << 20).feed(data)
                self.assertEqual(len(frames), 1)
                frame = frames[0]
                self.assertEqual(frame.kid, v["kid"])
                self.assertEqual(wire.decode_body(frame.body), v["message"])
                if v["kid"]:
                    secret = bytes.fromhex(v["secret_hex"])
                    self.assertTrue(wire.verify(secret, frame))
                    again = wire.FrameDecoder(1 << 20).feed(wire.encode_frame(v["kid"], secret, v["message"]))[0]
                    self.assertTrue(wire.verify(secret, again))
                    self.assertEqual(wire.decode_body(again.body), v["message"])
                else:
                    self.assertEqual(frame.tag, bytes(32))  # a diagnostic: unsigned (§6.1)

    def test_ping_vector_byte_for_byte_apart_from_the_integer_width(self):
        v = _vectors("ping-request.json")[0]
        ours = wire.encode_frame(v["kid"], bytes.fromhex(v["secret_hex"]), v["message"])
        # msgpack writes ts as uint64 (0xcf), the reference encoder int64 (0xd3): both are valid (§3).
        self.assertEqual(ours[:-32].replace(b"\xcf\x00\x00\x01\x9b", b"\xd3\x00\x00\x01\x9b"), bytes.fromhex(v["frame_hex"])[:-32])

    def test_rejected_frames(self):
        by_name = {v["name"]: v for v in _vectors("reject-*.json")}
        for name in ("reject-kid-bad-byte", "reject-kid-len-65", "reject-len-below-min", "reject-len-over-max", "reject-version-2"):
            with self.subTest(name), self.assertRaises(wire.FrameError):
                wire.FrameDecoder(4 * 1024 * 1024).feed(bytes.fromhex(by_name[name]["frame_hex"]))
        bad_tag = wire.FrameDecoder(1 << 20).feed(bytes.fromhex(by_name["reject-bad-tag"]["frame_hex"]))[0]
        self.assertFalse(wire.verify(bytes(range(32)), bad_tag))

    def test_frames_split_anywhere(self):
        key = bytes(range(32))
        stream = b"".join(wire.encode_frame("k1", key, {"id": str(i), "ts": 1767225600000 + i, "ok": True, "body": {"n": i}}) for i in range(5))
        decoder = wire.FrameDecoder(1 << 20)
        frames = []
        for i in range(len(stream)):
            frames += decoder.feed(stream[i:i + 1])
        self.assertEqual([wire.decode_body(f.body)["body"]["n"] for f in frames], [0, 1, 2, 3, 4])
        self.assertTrue(all(wire.verify(key, f) for f in frames))
        self.assertEqual(decoder.buffered, 0)

    def test_big_integers_stay_integers(self):
        for n in (2 ** 32, 1767225600000, 2 ** 53 - 1, -(2 ** 40)):
            body = msgpack.packb({"ts": n})
            self.assertEqual(wire.decode_body(body), {"ts": n})
            self.assertIsInstance(wire.decode_body(body)["ts"], int)

    def test_answers_outside_the_value_model_are_refused(self):
        for bad in (msgpack.packb({"b": b"bin"}, use_bin_type=True), msgpack.packb({"t": msgpack.ExtType(5, b"x")}), msgpack.packb([1]), msgpack.packb({"a": 1}) + b"\x00"):
            with self.subTest(bad.hex()), self.assertRaises(ValueError):
                wire.decode_body(bad)
        deep = {}
        node = deep
        for _ in range(70):
            node["d"] = {}
            node = node["d"]
        with self.assertRaises(ValueError):
            wire.decode_body(msgpack.packb(deep))


class ValueModelTest(unittest.TestCase):
    def test_refused_values_name_their_path(self):
        cases = [
            ({"m": b"x"}, "body.m"),
            ({"m": float("nan")}, "body.m"),
            ({"m": float("inf")}, "body.m"),
            ({"m": 2 ** 53}, "body.m"),
            ({"m": -(2 ** 53)}, "body.m"),
            ({"m": {1: "x"}}, "body.m"),
            ({"m": {"__proto__": 1}}, "body.m"),
            ({"items": [{"text": "\ud800"}]}, "body.items.0.text"),
            ({"m": {1, 2}}, "body.m"),
        ]
        for value, path in cases:
            with self.subTest(path=path, value=repr(value)), self.assertRaises(wire.ValueModelError) as cm:
                wire.check_value(value, "body", depth=1)
            self.assertEqual(cm.exception.path, path)

    def test_accepted_values(self):
        wire.check_value({"a": [None, True, False, 2 ** 53 - 1, -(2 ** 53 - 1), 1.5, "é", {"b": ()}]}, "body", depth=1)

    def test_depth_counts_from_the_message_map(self):
        body = {}
        node = body
        for _ in range(30):  # body is depth 2, so 30 more maps reach depth 32
            node["d"] = {}
            node = node["d"]
        wire.check_value(body, "body", depth=1)
        node["d"] = {}
        with self.assertRaises(wire.ValueModelError) as cm:
            wire.check_value(body, "body", depth=1)
        self.assertEqual(cm.exception.limit, "depth")

    def test_the_client_refuses_before_connecting(self):
        # Nothing listens on this port: the error is the value's, not a connection's.
        port, held = _unused_port()
        self.addCleanup(held.close)
        c = ctxd.Client(port=port, kid="k1", secret=bytes(32), max_reconnect_attempts=0)
        try:
            with self.assertRaises(ctxd.RequestError) as cm:
                c.store("x", level=1, metadata={"blob": b"\x00"})
            self.assertEqual(cm.exception.code, "BAD_REQUEST")
            self.assertEqual(cm.exception.details, {"field": "body.metadata.blob"})
            self.assertFalse(cm.exception.retryable)
            self.assertEqual(c.connections_opened, 0)
            with self.assertRaises(ctxd.ConnectionError) as cm2:
                c.ping()
            self.assertEqual(cm2.exception.code, "CONNECTION_CLOSED")
        finally:
            c.close()


class ErrorTableTest(unittest.TestCase):
    # src/client/errors.ts ERROR_CLASSES
    EXPECTED = {
        "BAD_FRAME": ctxd.FramingError, "FRAME_TOO_LARGE": ctxd.FramingError, "UNSUPPORTED_VERSION": ctxd.FramingError,
        "UNKNOWN_KEY": ctxd.AuthError, "BAD_SIGNATURE": ctxd.AuthError, "FORBIDDEN": ctxd.AuthError,
        "STALE_TIMESTAMP": ctxd.RequestError, "REPLAY": ctxd.RequestError, "BAD_REQUEST": ctxd.RequestError, "UNKNOWN_OP": ctxd.RequestError,
        "NOT_FOUND": ctxd.NotFoundError, "QUOTA_EXCEEDED": ctxd.QuotaError,
        "RATE_LIMITED": ctxd.UnavailableError, "OVERLOADED": ctxd.UnavailableError, "UNAVAILABLE": ctxd.UnavailableError,
        "SHUTTING_DOWN": ctxd.UnavailableError, "INTERNAL": ctxd.UnavailableError,
    }

    def test_every_wire_code_has_its_class(self):
        self.assertEqual(set(ERROR_CLASSES), set(self.EXPECTED))
        self.assertEqual(set(WIRE_CODES), set(self.EXPECTED))
        for code, cls in self.EXPECTED.items():
            e = error_from_wire({"code": code, "message": "m", "retryable": WIRE_CODES[code].retryable, "retry_after_ms": 250, "details": {"field": "body.x"}})
            self.assertIs(type(e), cls, code)
            self.assertIsInstance(e, ctxd.CtxdError)
            self.assertEqual((e.code, e.retryable, e.retry_after_ms, e.details), (code, WIRE_CODES[code].retryable, 250, {"field": "body.x"}))

    def test_the_code_decides_never_the_message(self):
        self.assertIs(type(error_from_wire({"code": "NOT_FOUND", "message": "BAD_SIGNATURE timeout quota", "retryable": False})), ctxd.NotFoundError)

    def test_unknown_or_malformed_errors(self):
        for err in ({"code": "NO_SUCH_CODE", "message": "x"}, None, "text", {"message": "no code"}):
            e = error_from_wire(err)
            self.assertIs(type(e), ctxd.CtxdError)
            self.assertEqual(e.code, "INTERNAL")

    def test_client_codes_and_pickling(self):
        self.assertTrue(ctxd.TimeoutError("TIMEOUT", "t").retryable)
        self.assertTrue(ctxd.ConnectionError("CONNECTION_CLOSED", "c").retryable)
        e = ctxd.QuotaError("QUOTA_EXCEEDED", "full", details={"quota": "max_contexts", "limit": 1, "usage": 1})
        again = pickle.loads(pickle.dumps(e))
        self.assertIs(type(again), ctxd.QuotaError)
        self.assertEqual((again.code, again.message, again.retryable, again.details), (e.code, e.message, False, e.details))
        self.assertEqual(str(e), "QUOTA_EXCEEDED: full")


class KeysTest(unittest.TestCase):
    def _dir(self, doc):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "keys.json"), "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return d

    def test_first_admin_else_first_key(self):
        a, b, c = ("11" * 32), ("22" * 32), ("33" * 32)
        d = self._dir({"keys": [{"kid": "agent-1", "secret": a}, {"kid": "admin-1", "secret": b, "role": "admin", "tenant": "t1"}, {"kid": "admin-2", "secret": c, "role": "admin"}]})
        k = ctxd.key_from_data_dir(d)
        self.assertEqual((k.kid, k.secret, k.tenant, k.role), ("admin-1", bytes.fromhex(b), "t1", "admin"))
        d2 = self._dir({"keys": [{"kid": "agent-1", "secret": a}, {"kid": "agent-2", "secret": b}]})
        k2 = ctxd.key_from_data_dir(d2)
        self.assertEqual((k2.kid, k2.tenant, k2.role), ("agent-1", "default", "agent"))
        self.assertNotIn(a, repr(k2))  # the secret stays out of reprs

    def test_missing_and_malformed(self):
        self.assertIsNone(ctxd.key_from_data_dir(tempfile.mkdtemp()))
        self.assertIsNone(ctxd.key_from_data_dir(self._dir({"keys": []})))
        for doc in ("not json", {"nokeys": 1}, {"keys": [{"kid": "a b", "secret": "11" * 32}]}, {"keys": [{"kid": "k", "secret": "11" * 16}]},
                    {"keys": [{"kid": "k", "secret": "zz"}]}, {"keys": [{"kid": "k", "secret": "11" * 32, "role": "root"}]},
                    {"keys": [{"kid": "k", "secret": "11" * 32, "tenant": "-bad"}]}):
            with self.subTest(doc=doc), self.assertRaises(ctxd.KeyringError):
                ctxd.key_from_data_dir(self._dir(doc))

    def test_client_takes_a_key_from_a_data_dir(self):
        d = self._dir({"keys": [{"kid": "admin-1", "secret": "44" * 32, "role": "admin"}]})
        c = ctxd.Client(data_dir=d)
        try:
            self.assertEqual(c.key.kid, "admin-1")
        finally:
            c.close()
        with self.assertRaises(ctxd.KeyringError):
            ctxd.AsyncClient(data_dir=tempfile.mkdtemp())
        with self.assertRaises(ValueError):
            ctxd.AsyncClient(kid="only-kid")


class ImportChunksTest(unittest.TestCase):
    def test_by_count(self):
        items = [{"id": str(i)} for i in range(2500)]
        self.assertEqual([len(c) for c in _bodies.import_chunks(items, None)], [1000, 1000, 500])

    def test_by_size(self):
        items = [{"text": "x" * (1024 * 1024)} for _ in range(7)]
        chunks = list(_bodies.import_chunks(items, 4 * 1024 * 1024))
        self.assertEqual([len(c) for c in chunks], [3, 3, 1])
        self.assertTrue(all(sum(len(msgpack.packb(i)) for i in c) < 4 * 1024 * 1024 for c in chunks))

    def test_item_errors_name_the_index_in_the_whole_list(self):
        results = [{"id": "a", "status": "inserted"}, {"error": {"code": "BAD_REQUEST", "message": "m", "retryable": False, "details": {"field": "body.items.1.text"}}}]
        _bodies.shift_item_errors(results, 1000)
        self.assertEqual(results[1]["error"]["details"]["field"], "body.items.1001.text")
        merged = _bodies.merge_import_answers([{"results": [1], "reembedded": 2}, {"results": [3], "reembedded": 1}])
        self.assertEqual(merged, {"results": [1, 3], "reembedded": 3})


def _unused_port():
    """A port bound but never listening (connections are refused), and its socket to close."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1], s

if __name__ == "__main__":
    unittest.main()

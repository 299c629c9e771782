"""Every op against the real daemon, through the asyncio client and through the sync client.

The scenarios are written once, as async tests; the sync client runs them
through SyncAsAsync (each call in a worker thread, blocking as a program would).
"""
import asyncio
import time
import unittest

import ctxd

import support
from support import requires_daemon, unique


class OpScenarios:
    """Mixed into a TestCase whose asyncSetUp sets self.c (an AsyncClient or a SyncAsAsync)."""

    c: "ctxd.AsyncClient"

    async def test_hello(self):
        h = await self.c.hello()
        self.assertEqual((h["server"], h["protocol"], h["kid"], h["role"]), ("ctxd", 1, support.daemon_key().kid, "admin"))
        self.assertTrue({"hello", "ping", "store", "retrieve", "list", "stats"} <= set(h["ops"]))
        self.assertIsInstance(h["limits"]["max_frame_bytes"], int)
        self.assertEqual(self.c.server_info["kid"], h["kid"])  # the connection's own hello, sent first

    async def test_ping(self):
        self.assertEqual(await self.c.ping(), {})
        self.assertEqual(await self.c.request("ping"), {})

    async def test_store_get_update_delete(self):
        session = unique("s")
        before = int(time.time() * 1000)
        r = await self.c.store(
            "Ticket ABC-1234 is blocked on the schema migration", 2, session=session, agent="planner", tags=["tickets"],
            metadata={"ms": 1767225600000, "neg": -(2 ** 40), "max": 2 ** 53 - 1, "f": 0.25, "nested": {"a": [1, None, True]}}, ttl_s=3600,
        )
        self.assertEqual((r["level"], r["deduplicated"]), (2, False))
        self.assertGreater(r["tokens"], 0)
        ctx = await self.c.get(r["id"])
        self.assertEqual(ctx["text"], "Ticket ABC-1234 is blocked on the schema migration")
        self.assertEqual((ctx["session"], ctx["agent"], ctx["tags"]), (session, "planner", ["tickets"]))
        self.assertEqual(ctx["metadata"], {"ms": 1767225600000, "neg": -(2 ** 40), "max": 2 ** 53 - 1, "f": 0.25, "nested": {"a": [1, None, True]}})
        for field in ("ts", "created_ts", "expires_at"):  # ms timestamps: past 32 bits, still ints
            self.assertIsInstance(ctx[field], int)
            self.assertGreater(ctx[field], 2 ** 32)
        self.assertGreaterEqual(ctx["ts"], before - 5000)

        up = await self.c.update(r["id"], text="Ticket ABC-1234 is unblocked", metadata={"neg": None, "added": "yes"}, tags=["tickets", "done"])
        self.assertEqual(up["text"], "Ticket ABC-1234 is unblocked")
        self.assertNotIn("neg", up["metadata"])
        self.assertEqual(up["metadata"]["added"], "yes")
        self.assertGreater(up["version"], ctx["version"])
        self.assertIsNotNone(up["expires_at"])
        moved = await self.c.update(r["id"], level=3, ttl_s=7200)
        self.assertEqual(moved["level"], 3)
        self.assertGreater(moved["expires_at"], up["expires_at"])
        kept = await self.c.update(r["id"], ttl_s=None)  # None removes the expiry (§7.6)
        self.assertIsNone(kept["expires_at"])

        self.assertEqual(await self.c.delete(r["id"]), {"deleted": 1})
        with self.assertRaises(ctxd.NotFoundError) as cm:
            await self.c.get(r["id"])
        self.assertEqual((cm.exception.code, cm.exception.retryable), ("NOT_FOUND", False))
        with self.assertRaises(ctxd.NotFoundError):
            await self.c.delete(r["id"])

    async def test_store_dedup(self):
        session = unique("s")
        a = await self.c.store("The build server is build-07.internal", 1, session=session)
        b = await self.c.store("the  build server is BUILD-07.internal", 1, session=session)
        self.assertEqual(b["id"], a["id"])
        self.assertTrue(b["deduplicated"])

    async def test_store_batch(self):
        session = unique("s")
        out = await self.c.store_batch([
            {"text": "first batch item about apples", "level": 1, "session": session},
            {"text": "an item with a bad level", "level": 7, "session": session},
            {"text": "third batch item about pears", "level": 2, "session": session, "tags": ["fruit"]},
        ])
        ok1, bad, ok3 = out["results"]
        self.assertEqual((ok1["level"], ok3["level"]), (1, 2))
        self.assertEqual(bad["error"]["code"], "BAD_REQUEST")
        self.assertTrue(bad["error"]["details"]["field"].startswith("body.items.1"))
        self.assertEqual((await self.c.get(ok3["id"]))["tags"], ["fruit"])

    async def test_retrieve(self):
        session = unique("s")
        await self.c.store("The quarterly report for Zanzibar shipping is due on Thursday", 1, session=session)
        await self.c.store("Lunch options near the office include ramen and tacos", 1, session=session)
        r = await self.c.retrieve("Zanzibar shipping report", session=session, levels=[1], max_tokens=500)
        self.assertIn("Zanzibar", r["contexts"][0]["text"])
        top = r["contexts"][0]
        self.assertAlmostEqual(sum(top["score_parts"].values()), top["score"], places=6)
        self.assertEqual(set(top["relevance"]), {"dense", "lexical"})
        self.assertLessEqual(r["total_tokens"], 500)
        self.assertEqual(r["total_tokens"], sum(c["tokens"] for c in r["contexts"]))
        self.assertRegex(r["set_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(set(r["levels"]), {"1"})
        self.assertIsInstance(r["degraded"], list)

    async def test_list_pages_follow_the_cursor(self):
        session = unique("s")
        ids = [(await self.c.store("list item number %d about topic %s" % (i, unique("t")), 1, session=session))["id"] for i in range(5)]
        page = await self.c.list_page(session=session, level=1, limit=2)
        self.assertEqual(len(page["items"]), 2)
        self.assertIsInstance(page["next_cursor"], str)
        self.assertFalse(page["truncated"])
        seen, pages = [], 0
        async for p in self.c.list(session=session, level=1, limit=2):
            pages += 1
            seen += [item["id"] for item in p["items"]]
        self.assertGreaterEqual(pages, 3)
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(seen, sorted(seen))  # id order

    async def test_delete_where_and_clear(self):
        session = unique("s")
        for i in range(2):
            await self.c.store("tagged note %d %s" % (i, unique("n")), 2, session=session, tags=["purge-me"])
        await self.c.store("untagged note %s" % unique("n"), 2, session=session)
        self.assertEqual(await self.c.delete_where(session=session, tags_any=["purge-me"]), {"deleted": 2})
        for i in range(3):
            await self.c.store("l1 note %d %s" % (i, unique("n")), 1, session=session)
        self.assertEqual(await self.c.clear(1, session=session), {"deleted": 3})
        self.assertEqual(await self.c.clear(2, session=session), {"deleted": 1})
        with self.assertRaises(ctxd.RequestError) as cm:
            await self.c.delete_where()  # at least one filter (§7.7)
        self.assertEqual(cm.exception.code, "BAD_REQUEST")

    async def test_sessions_list_and_end(self):
        tenant = unique("py-sessions")
        for session in ("a", "b"):
            await self.c.store("turn of %s %s" % (session, unique("t")), 1, session=session, tenant=tenant)
        pages = [p async for p in self.c.list_sessions(limit=1, tenant=tenant)]
        self.assertEqual([[(s["session"], s["l1"], s["l2"]) for s in p["sessions"]] for p in pages], [[("a", 1, 0)], [("b", 1, 0)]])
        self.assertIsInstance(pages[0]["sessions"][0]["last_ts"], int)
        self.assertEqual(await self.c.end_session("a", tenant=tenant), {"session": "a", "moved": 1, "dropped": 0})
        self.assertEqual(await self.c.end_session("b", action="drop", tenant=tenant), {"session": "b", "moved": 0, "dropped": 1})
        page = await self.c.list_sessions_page(tenant=tenant)
        self.assertEqual([(s["session"], s["l1"], s["l2"]) for s in page["sessions"]], [("a", 0, 1)])

    async def test_stats_and_admin_tenant(self):
        tenant = unique("py-tenant")
        r = await self.c.store("a context of another tenant", 3, tenant=tenant)
        s = await self.c.stats(tenant=tenant)
        self.assertEqual((s["tenant"], s["total"], s["levels"]["3"]), (tenant, 1, 1))
        self.assertGreater(s["text_bytes"], 0)
        self.assertEqual((await self.c.get(r["id"], tenant=tenant))["text"], "a context of another tenant")
        with self.assertRaises(ctxd.NotFoundError):
            await self.c.get(r["id"])  # not in the key's own tenant
        own = await self.c.stats()
        self.assertEqual(own["tenant"], support.daemon_key().tenant)
        self.assertEqual((await self.c.list_page(tenant=tenant))["items"][0]["id"], r["id"])
        self.assertEqual(await self.c.delete_where(level=3, tenant=tenant), {"deleted": 1})

    async def test_errors_by_code(self):
        with self.assertRaises(ctxd.RequestError) as cm:
            await self.c.request("no_such_op", {})
        self.assertEqual(cm.exception.code, "UNKNOWN_OP")
        with self.assertRaises(ctxd.RequestError) as cm:
            await self.c.store("x", 9)
        self.assertEqual((cm.exception.code, cm.exception.details["field"], cm.exception.retryable), ("BAD_REQUEST", "body.level", False))
        with self.assertRaises(ctxd.RequestError) as cm:
            await self.c.request("ping", {"unknown_field": 1})
        self.assertEqual(cm.exception.code, "BAD_REQUEST")
        self.assertEqual(await self.c.ping(), {})  # errors are per request: the connection goes on
        self.assertEqual(self.c.connections_opened, 1)

    async def test_values_outside_the_model_never_leave(self):
        for metadata, field in (({"b": b"x"}, "body.metadata.b"), ({"n": float("nan")}, "body.metadata.n"), ({"i": 2 ** 53}, "body.metadata.i")):
            with self.subTest(field=field), self.assertRaises(ctxd.RequestError) as cm:
                await self.c.store("x", 1, metadata=metadata)
            self.assertEqual(cm.exception.details["field"], field)
        self.assertEqual(await self.c.ping(), {})

    async def test_frame_too_large_is_refused_before_sending(self):
        await self.c.connect()  # the server's max_frame_bytes is known from hello
        limit = self.c.server_info["max_frame_bytes"]
        with self.assertRaises(ctxd.FramingError) as cm:
            await self.c.store("x" * (limit + 1), 1)
        self.assertEqual((cm.exception.code, cm.exception.retryable), ("FRAME_TOO_LARGE", False))
        self.assertEqual(await self.c.ping(), {})
        self.assertEqual(self.c.connections_opened, 1)


@requires_daemon
class AsyncOpsTest(OpScenarios, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.c = support.async_client()
        await self.c.connect()

    async def asyncTearDown(self):
        await self.c.close()


@requires_daemon
class SyncOpsTest(OpScenarios, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.sync = support.client()
        self.c = support.SyncAsAsync(self.sync)
        await self.c.connect()

    async def asyncTearDown(self):
        await asyncio.get_running_loop().run_in_executor(None, self.sync.close)


@requires_daemon
class SyncDirectTest(unittest.TestCase):
    """The blocking API called plainly, from the test's own thread."""

    def test_with_block_store_retrieve_list(self):
        session = unique("s")
        with support.client() as c:
            self.assertEqual(c.server_info["server"], "ctxd")
            stored = c.store("Direct sync store about kiwis", 1, session=session)
            hits = c.retrieve("kiwis", session=session, levels=[1])
            self.assertEqual(hits["contexts"][0]["id"], stored["id"])
            pages = list(c.list(session=session, limit=1))
            self.assertEqual([i["id"] for p in pages for i in p["items"]], [stored["id"]])
        self.assertTrue(c.closed)
        with self.assertRaises(ctxd.ConnectionError) as cm:
            c.ping()
        self.assertFalse(cm.exception.retryable)
        c.close()  # twice is fine


if __name__ == "__main__":
    unittest.main()

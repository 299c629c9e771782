"""The admin ops export, import, purge, backup and rekey, through both clients.

Each test is skipped unless the daemon's hello lists its op, so the suite
passes against a daemon that does not have them yet. rekey runs against the
daemon under test (no encryption at rest: refused) and against daemons the
tests start themselves with a data key file (support.OwnDaemon).
"""
import asyncio
import hashlib
import os
import shutil
import tempfile
import unittest

import ctxd

import support
from support import has_op, requires_daemon, unique


class AdminScenarios:
    c: "ctxd.AsyncClient"

    async def _fill(self, tenant, n=5):
        ids = []
        for i in range(n):
            r = await self.c.store("exported context %d about %s" % (i, unique("topic")), 3 if i % 2 else 1, session="exp", tenant=tenant, metadata={"i": i, "ms": 1767225600000 + i})
            ids.append(r["id"])
        return ids

    @unittest.skipUnless(has_op("export"), "the daemon has no export op yet")
    async def test_export_pages(self):
        tenant = unique("py-export")
        ids = await self._fill(tenant)
        page = await self.c.export_page(tenant=tenant, limit=2)
        self.assertEqual(len(page["items"]), 2)
        self.assertIsInstance(page["next_cursor"], str)
        self.assertEqual({i["tenant"] for i in page["items"]}, {tenant})
        self.assertNotIn("vector", page["items"][0])
        items = [i async for p in self.c.export(tenant=tenant, limit=2) for i in p["items"]]
        self.assertEqual(sorted(i["id"] for i in items), sorted(ids))
        self.assertEqual({i["metadata"]["ms"] for i in items}, {1767225600000 + i for i in range(5)})
        only_l1 = [i async for p in self.c.export(tenant=tenant, level=1) for i in p["items"]]
        self.assertEqual({i["level"] for i in only_l1}, {1})
        with_vectors = await self.c.export_page(tenant=tenant, vectors=True)
        self.assertTrue(all(isinstance(i["vector"], str) for i in with_vectors["items"]))
        self.assertIsInstance(with_vectors["vector_space"], str)
        everyone = [i["tenant"] async for p in self.c.export(all_tenants=True, limit=1000) for i in p["items"]]
        self.assertIn(tenant, everyone)

    @unittest.skipUnless(has_op("export") and has_op("import"), "the daemon has no export/import ops yet")
    async def test_import_what_was_exported(self):
        source, target = unique("py-src"), unique("py-dst")
        await self._fill(source)
        pages = [p async for p in self.c.export(tenant=source, vectors=True)]
        items = [i for p in pages for i in p["items"]]
        # Ids are unique across tenants: the source lets go of them first (a move, or a restore elsewhere).
        self.assertEqual(await self.c.delete_where(session="exp", tenant=source), {"deleted": 5})
        first = await self.c.import_items(items, target, vector_space=pages[0].get("vector_space"))
        self.assertEqual([r["status"] for r in first["results"]], ["inserted"] * 5)
        again = await self.c.import_items(items, target)
        self.assertEqual([r["status"] for r in again["results"]], ["kept"] * 5)
        copied = {i["id"]: i async for p in self.c.export(tenant=target) for i in p["items"]}
        for item in items:
            self.assertEqual((copied[item["id"]]["text"], copied[item["id"]]["version"], copied[item["id"]]["created_ts"]), (item["text"], item["version"], item["created_ts"]))
        bad = dict(items[0], id=unique("bad"), level=9)
        mixed = await self.c.import_items([items[1], bad], target)
        self.assertEqual(mixed["results"][0]["status"], "kept")
        self.assertEqual(mixed["results"][1]["error"]["code"], "BAD_REQUEST")
        self.assertTrue(mixed["results"][1]["error"]["details"]["field"].startswith("body.items.1"))

    @unittest.skipUnless(has_op("purge"), "the daemon has no purge op yet")
    async def test_purge(self):
        tenant = unique("py-purge")
        await self._fill(tenant, 3)
        out = await self.c.purge(tenant)
        self.assertEqual((out["tenant"], out["contexts"]), (tenant, 3))
        self.assertEqual((await self.c.stats(tenant=tenant))["total"], 0)

    @unittest.skipUnless(has_op("backup"), "the daemon has no backup op yet")
    async def test_backup(self):
        out = await self.c.backup(timeout=30)
        self.assertRegex(out["sha256"], r"^[0-9a-f]{64}$")
        self.assertGreater(out["bytes"], 0)
        if os.path.isabs(out["path"]) and os.path.exists(out["path"]):  # the daemon runs on this host in the tests
            with open(out["path"], "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), out["sha256"])

    @unittest.skipUnless(has_op("rekey"), "the daemon has no rekey op yet")
    async def test_rekey_without_encryption_at_rest(self):
        with self.assertRaises(ctxd.RequestError) as cm:
            await self.c.rekey()
        self.assertEqual((cm.exception.code, cm.exception.retryable), ("BAD_REQUEST", False))
        self.assertEqual(cm.exception.details["field"], "encryption")


def start_sealed_daemon() -> "tuple[support.OwnDaemon, str]":
    """A daemon with encryption at rest, and its data key file (made by `ctxd data-keys create`): k1, active."""
    workdir = tempfile.mkdtemp(prefix="ctxd-py-sealed-")
    key_file = os.path.join(workdir, "data-keys.json")
    try:
        support.ctxd_cli("data-keys", "create", "--file", key_file, "--id", "k1")
        return support.OwnDaemon(["--set", "encryption.key_file=" + key_file], workdir=workdir), key_file
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


class RekeyScenarios:
    """Mixed into a TestCase whose class has a daemon of its own `d` with encryption at rest (start_sealed_daemon),
    and whose asyncSetUp sets self.c (its admin key) and self.agent (its agent key), each an AsyncClient or a
    SyncAsAsync. Only test_rekey_reseals_every_row_with_a_new_data_key stores contexts there."""

    d: "support.OwnDaemon"
    key_file: str
    c: "ctxd.AsyncClient"
    agent: "ctxd.AsyncClient"

    async def test_rekey_reseals_every_row_with_a_new_data_key(self):
        texts = ["sealed context %d about %s" % (i, unique("topic")) for i in range(5)]
        ids = [(await self.c.store(t, 2, session="sealed"))["id"] for t in texts]
        # Every row is under k1 already: one step, nothing to do.
        self.assertEqual(await self.c.rekey(), {"active_kid": "k1", "resealed": 0, "unreadable": 0, "dropped": 0, "remaining": 0, "next_cursor": None, "compact_pending": False, "compact_error": None})

        # k2 joins the key file as the active key; the next rekey reads it and re-seals, two rows a step.
        await asyncio.get_running_loop().run_in_executor(None, support.ctxd_cli, "data-keys", "create", "--file", self.key_file, "--id", "k2")
        steps = []
        cursor = None
        while True:
            step = await self.c.rekey(cursor, 2)
            steps.append(step)
            cursor = step["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
            self.assertLess(len(steps), 10, steps)
        self.assertEqual({s["active_kid"] for s in steps}, {"k2"})
        self.assertEqual(sum(s["resealed"] for s in steps), 5)
        self.assertEqual([s["remaining"] for s in steps], [3, 1, 0])
        self.assertEqual({s["unreadable"] for s in steps}, {0})
        self.assertEqual([(await self.c.get(i))["text"] for i in ids], texts)
        # Every row is under k2 now: a pass (of the largest step) finds nothing left.
        self.assertEqual(await self.c.rekey(limit=10000), {"active_kid": "k2", "resealed": 0, "unreadable": 0, "dropped": 0, "remaining": 0, "next_cursor": None, "compact_pending": False, "compact_error": None})
        # New writes are sealed with k2.
        written = await self.c.store("written after the rotation %s" % unique("t"), 1, session="sealed")
        self.assertEqual(await self.c.rekey(), {"active_kid": "k2", "resealed": 0, "unreadable": 0, "dropped": 0, "remaining": 0, "next_cursor": None, "compact_pending": False, "compact_error": None})
        self.assertEqual((await self.c.get(written["id"]))["level"], 1)

    async def test_rekey_refuses_a_limit_out_of_range(self):
        for limit in (0, 10001):
            with self.assertRaises(ctxd.RequestError) as cm:
                await self.c.rekey(limit=limit)
            self.assertEqual(cm.exception.code, "BAD_REQUEST")
            self.assertIn("limit", cm.exception.details["field"])

    async def test_rekey_is_for_admin_keys_only(self):
        self.assertEqual(await self.agent.ping(), {})  # the key works
        with self.assertRaises(ctxd.AuthError) as cm:
            await self.agent.rekey()
        self.assertEqual((cm.exception.code, cm.exception.retryable), ("FORBIDDEN", False))


@requires_daemon
class AsyncAdminOpsTest(AdminScenarios, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.c = support.async_client()

    async def asyncTearDown(self):
        await self.c.close()


@requires_daemon
class SyncAdminOpsTest(AdminScenarios, unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.sync = support.client()
        self.c = support.SyncAsAsync(self.sync)

    async def asyncTearDown(self):
        await asyncio.get_running_loop().run_in_executor(None, self.sync.close)


@requires_daemon
@unittest.skipUnless(has_op("rekey"), "the daemon has no rekey op yet")
class AsyncRekeyTest(RekeyScenarios, unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.d, cls.key_file = start_sealed_daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    async def asyncSetUp(self):
        self.c = self.d.async_client()
        self.agent = self.d.async_client(self.d.agent)

    async def asyncTearDown(self):
        await self.c.close()
        await self.agent.close()


@requires_daemon
@unittest.skipUnless(has_op("rekey"), "the daemon has no rekey op yet")
class SyncRekeyTest(RekeyScenarios, unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        cls.d, cls.key_file = start_sealed_daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    async def asyncSetUp(self):
        self.syncs = [self.d.client(), self.d.client(self.d.agent)]
        self.c, self.agent = (support.SyncAsAsync(c) for c in self.syncs)

    async def asyncTearDown(self):
        for c in self.syncs:
            await asyncio.get_running_loop().run_in_executor(None, c.close)


if __name__ == "__main__":
    unittest.main()

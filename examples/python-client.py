#!/usr/bin/env python3
"""Stores a context in ctxd and retrieves it, with the Python client package (clients/python).

Prints each answer as one line of JSON: hello, ping, store, retrieve.

    python3 examples/python-client.py --port 7411 --data-dir ./data
    python3 examples/python-client.py --port 7411 --kid KID --secret-hex HEX

It uses the installed `ctxd` package, else the one in this checkout's
clients/python/src; either way it needs msgpack (Debian: python3-msgpack).
"""
import argparse
import json
import os
import sys

try:
    import ctxd
except ModuleNotFoundError as e:
    if e.name != "ctxd":
        sys.exit("python-client.py: the ctxd package needs %s (Debian: apt-get install python3-msgpack; or pip install msgpack)" % e.name)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python", "src"))
    try:
        import ctxd
    except ModuleNotFoundError as e2:
        sys.exit("python-client.py: the ctxd package needs %s (Debian: apt-get install python3-msgpack; or pip install msgpack)" % e2.name)


def show(op, body):
    print(json.dumps({"op": op, "answer": {"ok": True, "body": body}}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("CTXD_PORT", 7411)))
    ap.add_argument("--kid", default=os.environ.get("CTXD_KEY_ID"))
    ap.add_argument("--secret-hex", default=os.environ.get("CTXD_KEY_SECRET"))
    ap.add_argument("--data-dir", default=os.environ.get("CTXD_DATA_DIR", "./data"), help="takes the key from its keys.json")
    ap.add_argument("--session", default="python-example")
    ap.add_argument("--text", default="The Python example stored this note: the staging database is db-stage-3.")
    ap.add_argument("--query", default="which database does staging use?")
    args = ap.parse_args()

    key = dict(kid=args.kid, secret=args.secret_hex) if args.kid else dict(data_dir=args.data_dir)
    try:
        with ctxd.Client(args.host, args.port, max_reconnect_attempts=2, **key) as c:
            show("hello", c.server_info)  # the answer to the hello every connection starts with
            show("ping", c.ping())
            stored = c.store(args.text, 1, session=args.session, tags=["example"])
            show("store", stored)
            show("retrieve", c.retrieve(args.query, session=args.session, max_tokens=200))
    except (ctxd.CtxdError, ctxd.KeyringError) as e:
        sys.exit("python-client.py: %s" % e)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A ctxd client written from protocol/PROTOCOL.md alone, with Python's standard library.

Sends `hello` and `ping`, verifies the answers' tags, prints each answer as JSON.

    python3 examples/python-client.py --port 7411 --data-dir ./data
    python3 examples/python-client.py --port 7411 --kid KID --secret-hex HEX
"""
import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import time


# --- MessagePack, the subset the protocol uses (PROTOCOL.md §3) -------------

def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        return b"\xd3" + struct.pack(">q", v)  # integers always as integers, never floats
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b if len(b) < 65536 else b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))
        return head + b"".join(pack(x) for x in v)
    raise TypeError(type(v))


def unpack(buf, i=0):
    b = buf[i]
    if b <= 0x7F:
        return b, i + 1
    if 0x80 <= b <= 0x8F:
        return unpack_map(buf, i + 1, b & 0x0F)
    if 0x90 <= b <= 0x9F:
        return unpack_array(buf, i + 1, b & 0x0F)
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        return buf[i + 1:i + 1 + n].decode("utf-8"), i + 1 + n
    if b >= 0xE0:
        return b - 256, i + 1
    fixed = {0xC0: (None, 0), 0xC2: (False, 0), 0xC3: (True, 0)}
    if b in fixed:
        return fixed[b][0], i + 1
    ints = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    if b in ints:
        size = struct.calcsize(ints[b])
        return struct.unpack_from(ints[b], buf, i + 1)[0], i + 1 + size
    strs = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
    if b in strs:
        size = struct.calcsize(strs[b])
        n = struct.unpack_from(strs[b], buf, i + 1)[0]
        start = i + 1 + size
        return buf[start:start + n].decode("utf-8"), start + n
    if b in (0xDE, 0xDF):
        fmt = ">H" if b == 0xDE else ">I"
        return unpack_map(buf, i + 1 + struct.calcsize(fmt), struct.unpack_from(fmt, buf, i + 1)[0])
    if b in (0xDC, 0xDD):
        fmt = ">H" if b == 0xDC else ">I"
        return unpack_array(buf, i + 1 + struct.calcsize(fmt), struct.unpack_from(fmt, buf, i + 1)[0])
    raise ValueError("unsupported MessagePack byte 0x%02x" % b)


def unpack_map(buf, i, n):
    out = {}
    for _ in range(n):
        k, i = unpack(buf, i)
        out[k], i = unpack(buf, i)
    return out, i


def unpack_array(buf, i, n):
    out = []
    for _ in range(n):
        x, i = unpack(buf, i)
        out.append(x)
    return out, i


# --- Frames (PROTOCOL.md §2) --------------------------------------------------

def frame(kid, secret, message):
    kid_b = kid.encode("ascii")
    body = pack(message)
    length = 1 + 1 + len(kid_b) + len(body) + 32
    signed = struct.pack(">IBB", length, 1, len(kid_b)) + kid_b + body
    return signed + hmac.new(secret, signed, hashlib.sha256).digest()


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("server closed the connection")
        out += chunk
    return out


def read_frame(sock, kid, secret):
    length = struct.unpack(">I", read_exact(sock, 4))[0]
    rest = read_exact(sock, length)
    ver, kid_len = rest[0], rest[1]
    if ver != 1:
        raise ValueError("unsupported version %d" % ver)
    body, tag = rest[2 + kid_len:-32], rest[-32:]
    message, end = unpack(body)
    if end != len(body):
        raise ValueError("trailing bytes after the body map")
    if kid_len == 0:  # diagnostic: unsigned, the server is closing (§6.1)
        raise ConnectionError("server closed the connection: %s" % json.dumps(message["error"]))
    signed = struct.pack(">I", length) + rest[:-32]
    if rest[2:2 + kid_len].decode("ascii") != kid or not hmac.compare_digest(hmac.new(secret, signed, hashlib.sha256).digest(), tag):
        raise ValueError("answer does not verify")
    return message


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7411)
    ap.add_argument("--kid")
    ap.add_argument("--secret-hex")
    ap.add_argument("--data-dir", default="./data")
    args = ap.parse_args()
    kid, secret_hex = args.kid, args.secret_hex
    if not kid:
        with open(os.path.join(args.data_dir, "keys.json")) as f:
            key = json.load(f)["keys"][0]
        kid, secret_hex = key["kid"], key["secret"]
    secret = bytes.fromhex(secret_hex)

    with socket.create_connection((args.host, args.port)) as sock:
        prefix = os.urandom(4).hex()
        for n, op in enumerate(["hello", "ping"]):
            req_id = "%s-%d" % (prefix, n)
            sock.sendall(frame(kid, secret, {"id": req_id, "ts": int(time.time() * 1000), "op": op, "body": {}}))
            answer = read_frame(sock, kid, secret)
            if answer["id"] != req_id:
                raise ValueError("answer for another request")
            print(json.dumps({"op": op, "answer": answer}))


if __name__ == "__main__":
    main()

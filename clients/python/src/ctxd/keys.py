"""Keys, and finding one in a daemon's data dir (src/auth/keyring-file.ts, src/client/key-source.ts).

    <data_dir>/keys.json: {"keys": [{"kid": "...", "secret": "<hex>", "tenant": "default", "role": "admin"}]}
"""
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Union

__all__ = ["Key", "KeyringError", "read_keyring", "key_from_data_dir", "KEYRING_FILE_NAME", "MIN_SECRET_BYTES"]

KEYRING_FILE_NAME = "keys.json"
MIN_SECRET_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+\Z")


class KeyringError(ValueError):
    """The keyring file is unreadable or a key in it is malformed."""


@dataclass(frozen=True)
class Key:
    kid: str
    #: The raw secret bytes (keys.json holds them as hex).
    secret: bytes = field(repr=False)
    tenant: str = "default"
    role: str = "agent"

    @classmethod
    def of(cls, kid: str, secret: Union[bytes, bytearray, str], tenant: str = "default", role: str = "agent") -> "Key":
        """A key from a kid and a secret given as bytes or hex text."""
        if isinstance(secret, str):
            if not _HEX.match(secret):
                raise KeyringError("secret must be hex")
            secret = bytes.fromhex(secret)
        if not isinstance(kid, str) or not _KID.match(kid):
            raise KeyringError("kid must be 1..64 characters of [A-Za-z0-9._-]")
        return cls(kid, bytes(secret), tenant, role)


def _parse(raw: Any, where: str) -> Key:
    if not isinstance(raw, dict):
        raise KeyringError("%s: a key must be an object" % where)
    kid = raw.get("kid")
    if not isinstance(kid, str) or not _KID.match(kid):
        raise KeyringError("%s: kid must be 1..64 characters of [A-Za-z0-9._-]" % where)
    secret = raw.get("secret")
    if not isinstance(secret, str) or not _HEX.match(secret):
        raise KeyringError("%s: secret must be hex" % where)
    secret_b = bytes.fromhex(secret)
    if len(secret_b) < MIN_SECRET_BYTES:
        raise KeyringError("%s: secret must be at least %d bytes (%d hex digits)" % (where, MIN_SECRET_BYTES, 2 * MIN_SECRET_BYTES))
    tenant = raw.get("tenant", "default")
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise KeyringError("%s: tenant must be 1..64 characters of [A-Za-z0-9._-], starting with a letter or digit" % where)
    role = raw.get("role", "agent")
    if role not in ("agent", "admin"):
        raise KeyringError('%s: role must be "agent" or "admin"' % where)
    return Key(kid, secret_b, tenant, role)


def read_keyring(path: Union[str, "os.PathLike[str]"]) -> Optional[List[Key]]:
    """Every key of a keyring file; None when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise KeyringError("keyring %s: %s" % (path, e)) from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise KeyringError("keyring %s: not valid JSON: %s" % (path, e)) from None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise KeyringError('keyring %s: expected {"keys": [...]}' % path)
    return [_parse(k, "keyring %s keys[%d]" % (path, i)) for i, k in enumerate(keys)]


def key_from_data_dir(data_dir: Union[str, "os.PathLike[str]"], keyring_path: Optional[Union[str, "os.PathLike[str]"]] = None) -> Optional[Key]:
    """The first admin key (else the first key) of <data_dir>/keys.json; None when there is none."""
    keys = read_keyring(keyring_path if keyring_path is not None else os.path.join(data_dir, KEYRING_FILE_NAME))
    if not keys:
        return None
    return next((k for k in keys if k.role == "admin"), keys[0])

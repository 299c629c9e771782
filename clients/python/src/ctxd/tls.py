"""TLS on the agent port (PROTOCOL.md §1): the client's options, the SSLContext made of them, and handshake errors.

A daemon with `tls.cert_file` set speaks TLS only on its agent port. The
client connects with `tls=`: an `ssl.SSLContext` of its own, or `TlsOptions`
(a CA bundle to trust, a client certificate and key for mTLS, the name the
server's certificate must carry), from which it makes a context that needs
TLS 1.2 or later and verifies the server's certificate and name (an IP
address is checked against the certificate's IP SANs).
"""
import ipaddress
import os
import ssl
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Optional, Union

from .errors import TlsError

__all__ = ["TlsOptions", "TlsArg", "make_context", "resolve_tls", "is_transient", "handshake_error", "lost_error"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class TlsOptions:
    """How to connect with TLS.

    ca: PEM file of the CA certificate(s) the server's certificate must chain to (default: the system's roots).
    cert, key: PEM files of a client certificate (chain) and its key, for a daemon with `tls.client_auth`
        (`key` may be left out when `cert` holds the key too).
    servername: the name the server's certificate must carry, also sent as SNI (default: the host; an IP
        address host is matched against the certificate's IP addresses).
    context: an ssl.SSLContext to use instead of making one from ca/cert/key (its checks are then yours);
        `servername` still applies.
    """

    ca: Optional[PathLike] = None
    cert: Optional[PathLike] = None
    key: Optional[PathLike] = None
    servername: Optional[str] = None
    context: Optional[ssl.SSLContext] = None


#: What `tls=` takes: None or False (plaintext), True (TLS trusting the system's roots), an SSLContext,
#: TlsOptions, or a mapping of TlsOptions' fields.
TlsArg = Union[None, bool, ssl.SSLContext, TlsOptions, Mapping[str, Any]]


class ResolvedTls(NamedTuple):
    context: ssl.SSLContext
    server_hostname: str


def make_context(ca: Optional[PathLike] = None, cert: Optional[PathLike] = None, key: Optional[PathLike] = None) -> ssl.SSLContext:
    """A client context: TLS 1.2 or later, the server's certificate verified against `ca` (else the system's roots)
    and its name checked; `cert` + `key` presented when the server asks for a client certificate."""
    if key is not None and cert is None:
        raise ValueError("tls: key given without cert")
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.fspath(ca) if ca is not None else None)
    except (OSError, ValueError) as e:  # a missing file or one without a PEM certificate
        raise ValueError("tls: cannot load the CA file %s: %s" % (ca, e)) from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    if cert is not None:
        try:
            ctx.load_cert_chain(os.fspath(cert), os.fspath(key) if key is not None else None)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError: a file that is not PEM, or a key that does not match
            raise ValueError("tls: cannot load the client certificate %s with key %s: %s" % (cert, key if key is not None else "(in the same file)", e)) from None
    return ctx


def resolve_tls(tls: TlsArg, host: str) -> Optional[ResolvedTls]:
    """The context and the name to verify for `tls=` (None: plaintext). Files are read now, so that a wrong path fails at once."""
    if tls is None or tls is False:
        return None
    if tls is True:
        tls = TlsOptions()
    elif isinstance(tls, ssl.SSLContext):
        tls = TlsOptions(context=tls)
    elif isinstance(tls, Mapping):
        tls = TlsOptions(**tls)
    if not isinstance(tls, TlsOptions):
        raise TypeError("tls must be an ssl.SSLContext, a ctxd.TlsOptions, a dict of its fields, True or None, not %s" % type(tls).__name__)
    if tls.context is not None:
        if tls.ca is not None or tls.cert is not None or tls.key is not None:
            raise ValueError("tls: give either context or ca/cert/key")
        ctx = tls.context
    else:
        ctx = make_context(tls.ca, tls.cert, tls.key)
    name = tls.servername if tls.servername else host
    if not name:
        raise ValueError("tls: no host or servername to verify the server's certificate against")
    return ResolvedTls(ctx, name)


def is_transient(e: ssl.SSLError) -> bool:
    """Whether a handshake that failed this way may succeed if tried again: the connection was cut under it."""
    return isinstance(e, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError))


#: OpenSSL reasons for records that are not TLS: the server answered in plaintext.
_NOT_TLS = {"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "UNKNOWN_PROTOCOL"}


def _hint(reason: str) -> str:
    """A word on what to do, for the alerts whose cause is clear."""
    if reason.endswith("CERTIFICATE_REQUIRED"):
        return " (the server needs a client certificate: give cert= and key=)"
    if reason.endswith(("ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_CERTIFICATE_EXPIRED")):
        return " (the server refused this client certificate)"
    return ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def handshake_error(e: ssl.SSLError, host: str, port: int, server_hostname: str) -> TlsError:
    """The TlsError (not retryable) for a TLS handshake that failed with `e`."""
    where = "%s:%d" % (host, port)
    reason = getattr(e, "reason", None) or type(e).__name__
    details: dict = {"tls_reason": reason}
    if isinstance(e, ssl.SSLCertVerificationError):
        details["verify_code"] = e.verify_code
        details["verify_message"] = e.verify_message
        what = "the server's certificate did not verify: %s" % (e.verify_message or e.strerror or e)
        if e.verify_code == 62 or (e.verify_message or "").startswith("Hostname mismatch") or "IP address mismatch" in (e.verify_message or ""):
            what += " (checked against %s %r; set servername= for another name)" % ("IP address" if _is_ip(server_hostname) else "name", server_hostname)
    elif reason in _NOT_TLS:
        what = "the server did not answer in TLS (%s): is this a plaintext port?" % reason
    else:
        what = "%s%s" % (e.strerror or e, _hint(reason))
    return TlsError("CONNECTION_CLOSED", "TLS handshake with %s failed: %s" % (where, what), retryable=False, details=details)


def lost_error(e: BaseException) -> Optional[TlsError]:
    """For a connection lost after the handshake: a TlsError (not retryable) when TLS itself refused it, e.g. a
    server that sent an alert for our client certificate after the handshake (TLS 1.3); else None."""
    if not isinstance(e, ssl.SSLError) or is_transient(e):
        return None
    reason = getattr(e, "reason", None) or type(e).__name__
    return TlsError("CONNECTION_CLOSED", "the server ended the TLS session: %s%s" % (e.strerror or e, _hint(reason)), retryable=False, details={"tls_reason": reason})

"""TLS trust for the engine and the LLM: which CA certificates to check their certificates with,
and a one-line reason when the check fails."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

_REASON = re.compile(r"certificate verify failed: ([^(\]'\"]+)", re.I)


def requests_verify(ca: Path | None) -> str | bool:
    """`verify=` for requests. Given on every request, not on the session: requests lets
    REQUESTS_CA_BUNDLE override a session's own setting, and CAMUNDA_CA_BUNDLE must win."""
    return str(ca) if ca is not None else True


def ssl_context(ca: Path | None) -> ssl.SSLContext | None:
    """An SSL context trusting only `ca` (a PEM file or a folder of them); None: the default."""
    if ca is None:
        return None
    if ca.is_dir():
        return ssl.create_default_context(capath=str(ca))
    return ssl.create_default_context(cafile=str(ca))


def certificate_problem(exc: BaseException) -> str | None:
    """Why a TLS handshake failed, in a few words, if `exc` (or what caused it) is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"certificate not trusted ({current.verify_message or 'verify failed'})"
        text = str(current)
        found = _REASON.search(text)
        if found:
            return f"certificate not trusted ({found.group(1).strip()})"
        if isinstance(current, ssl.SSLError) or "SSLError" in type(current).__name__:
            return "handshake failed"
        current = current.__cause__ or current.__context__
    return None


def openai_http_client(ca: Path | None) -> openai.DefaultHttpxClient | None:
    """The HTTP client for the openai SDK that trusts `ca` (None: the SDK's default client,
    which also honours SSL_CERT_FILE)."""
    context = ssl_context(ca)
    if context is None:
        return None
    import openai

    return openai.DefaultHttpxClient(verify=context)

"""Which CA certificates the engine and LLM clients trust, and the one-line reason of a refusal."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from llm_worker.tls import certificate_problem, openai_http_client, requests_verify, ssl_context


def test_requests_verify() -> None:
    assert requests_verify(None) is True
    assert requests_verify(Path("/etc/company-ca.pem")) == "/etc/company-ca.pem"


def test_ssl_context_trusts_exactly_the_bundle(tmp_path: Path) -> None:
    assert ssl_context(None) is None
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    context = ssl_context(bundle)
    assert context is not None and context.verify_mode is ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1
    assert ssl_context(tmp_path) is not None  # a folder (c_rehash layout) is taken too


def test_openai_http_client_only_with_a_bundle(tmp_path: Path) -> None:
    assert openai_http_client(None) is None
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    client = openai_http_client(bundle)
    assert client is not None
    client.close()


def test_certificate_problem_finds_the_reason_in_the_chain() -> None:
    assert certificate_problem(ValueError("connection refused")) is None
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate in certificate chain"
    try:
        try:
            raise verify
        except ssl.SSLError as exc:
            raise ConnectionError("the connection failed") from exc
    except ConnectionError as wrapped:
        assert certificate_problem(wrapped) == (
            "certificate not trusted (self-signed certificate in certificate chain)"
        )
    quoted = ConnectionError(
        "Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: "
        "CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
        "certificate (_ssl.c:1000)')))"
    )
    assert certificate_problem(quoted) == (
        "certificate not trusted (unable to get local issuer certificate)"
    )
    assert certificate_problem(ssl.SSLError(1, "wrong version number")) == "handshake failed"

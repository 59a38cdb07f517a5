"""The native client trusts exactly what botocore trusts: a store behind a private CA that
botocore is told about (AWS_CA_BUNDLE, or ca_bundle in the profile) is reached; with a CA
botocore does not trust, the native client hands the request back (NativeRefused) rather
than fail every small file. A real TLS server on loopback, certificates made here."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reconciler import native
from reconciler.native import NativeRefused, native_for


def certificate(name: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(folder: Path, name: str) -> tuple[Path, Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = certificate(name, key, subject, key, ca=True)
    path = folder / f"{name}.pem"
    path.write_bytes(pem(cert))
    return path, key, cert


class Store(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    puts: ClassVar[list[tuple[str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Store.puts.append((self.path, body))
        self.send_response(200)
        self.send_header("ETag", '"e"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tls_store(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS 'store' on 127.0.0.1 (as localhost) with a certificate from a private CA."""
    ca_path, ca_key, ca_cert = make_ca(tmp_path, "camup-test-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    server_cert = certificate("localhost", key, ca_cert.subject, ca_key, ca=False)
    (tmp_path / "server.pem").write_bytes(pem(server_cert))
    (tmp_path / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Store)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Store.puts = []
    yield f"https://localhost:{server.server_address[1]}", ca_path
    server.shutdown()
    server.server_close()
    thread.join()


def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")


def test_a_private_ca_botocore_trusts_is_trusted_by_the_native_client(
        tls_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, ca = tls_store
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    sender = native_for(client(endpoint), "cams", "auto")
    assert sender is not None
    assert sender.put("cam/a.jpg", b"jpeg bytes", {"IfNoneMatch": "*"}) == {"ETag": '"e"'}
    assert Store.puts == [("/cams/cam/a.jpg", b"jpeg bytes")]


def test_a_ca_botocore_does_not_trust_hands_the_request_back(
        tls_store: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    endpoint, _ = tls_store
    monkeypatch.setattr(native, "RETRIES", 0)  # each failed handshake waits 10-30 s (s2n's blinding)
    other, _, _ = make_ca(tmp_path, "some-other-ca")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(other))
    sender = native_for(client(endpoint), "cams", "auto")
    assert sender is not None
    with pytest.raises(NativeRefused):
        sender.put("cam/a.jpg", b"jpeg bytes", {})
    assert Store.puts == []

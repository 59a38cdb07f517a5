"""A sealed AWS environment for unit tests: an AWS config file under tmp_path, no credentials
from the machine, no instance metadata, and a socket guard that refuses every host but
127.0.0.1 (so a test that goes wrong fails instead of reaching AWS)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

BROKEN_PROCESS = "[profile broken]\ncredential_process = /bin/false\nregion = us-east-1\n"
SSO_NO_TOKEN = ("[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n"
                "sso_role_name = Uploader\nregion = us-east-1\n\n"
                "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
                "sso_region = us-east-1\n")
CLOSED_ENDPOINT = "http://127.0.0.1:9"  # discard port: nothing listens; never reached anyway
_CLEARED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_STS", "CAMUP_BUCKET", "CAMUP_PREFIX",
            "CAMUP_WATCH_DIR", "CAMUP_ENDPOINT_URL", "CAMUP_CONFIG")


def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, profiles: str) -> list[str]:
    """Point botocore at `profiles` only; returns the list of refused connection attempts."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    config = tmp_path / "aws-config"
    config.write_text(profiles, encoding="utf-8")
    for var in _CLEARED:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))  # ~/.aws/sso/cache: empty
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", b"127.0.0.1"):
            refused.append(str(host))
            raise OSError(f"test sandbox: {host} is not 127.0.0.1")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple) and address[0] != "127.0.0.1":
            refused.append(str(address[0]))
            raise OSError(f"test sandbox: {address[0]} is not 127.0.0.1")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return refused

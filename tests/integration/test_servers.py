"""The throwaway servers the suite and the demo start: a port taken between choosing it and
the server binding it (parallel test sessions open thousands of connections) costs a retry
with new ports, not a session of errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import seaweed
from seaweed import SeaweedServer, free_ports

from .stores import MotoServer


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    low, _high = seaweed._ephemeral_range()
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(10_000 <= p < low for p in ports)
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


@pytest.fixture
def squatter() -> socket.socket:
    """A listener on a port, as another process that got there first."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s
    s.close()


def _first_call_includes(port: int, monkeypatch: pytest.MonkeyPatch, module) -> list[list[int]]:
    """free_ports answers its first call with `port` last in the list, then as usual."""
    real, calls = seaweed.free_ports, []

    def rigged(count: int) -> list[int]:
        ports = real(count)
        if not calls:
            ports[-1 if count == 1 else 6] = port  # the S3 port
        calls.append(ports)
        return ports

    monkeypatch.setattr(module, "free_ports", rigged)
    return calls


@pytest.mark.parametrize("kind", ["seaweedfs", "moto"])
def test_a_server_starts_on_new_ports_when_its_port_was_taken(
    tmp_path: Path, squatter: socket.socket, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    from . import stores

    taken = squatter.getsockname()[1]
    module, server_type = (seaweed, SeaweedServer) if kind == "seaweedfs" else (stores, MotoServer)
    calls = _first_call_includes(taken, monkeypatch, module)
    server = server_type(tmp_path / kind).start()
    try:
        assert len(calls) == 2
        assert server.s3_port != taken
        assert server.process is not None and server.process.poll() is None
    finally:
        server.stop()


@pytest.mark.parametrize("kernel_range", ["1024\t65535", "10004\t60999", "32768\t60999", "20000\t40000"])
def test_free_ports_on_any_ephemeral_range(monkeypatch: pytest.MonkeyPatch, kernel_range: str) -> None:
    """A host tuned to a wide range leaves no room outside it: the kernel chooses then."""
    low, high = (int(x) for x in kernel_range.split())
    monkeypatch.setattr(seaweed, "_ephemeral_range", lambda: (low, high))
    ports = free_ports(8)
    assert len(set(ports)) == 8
    room = [(10_000, low), (high + 1, 65_536)]
    if any(hi - lo >= 1_000 for lo, hi in room):
        assert all(any(lo <= p < hi for lo, hi in room) for p in ports)


def test_listens_on_works_with_psutil_before_6(monkeypatch: pytest.MonkeyPatch, squatter) -> None:
    """psutil 5.9 (which pyproject allows) has Process.connections, not net_connections."""
    import subprocess
    import sys

    import psutil

    child = subprocess.Popen([sys.executable, "-c", "import socket, time\n"
                              "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                              "print(s.getsockname()[1], flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        assert seaweed.listens_on(child, port)
        real = psutil.Process.net_connections  # psutil 5.9's shape: only connections()
        monkeypatch.delattr(psutil.Process, "net_connections")
        monkeypatch.setattr(psutil.Process, "connections", real)
        assert seaweed.listens_on(child, port)
        assert not seaweed.listens_on(child, squatter.getsockname()[1])  # ours, not the child's
    finally:
        child.kill()
        child.wait()
